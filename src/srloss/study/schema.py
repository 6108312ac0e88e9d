"""The config schema: generated from the declarations, checked with one line per error, defaults filled.

Every key of a study config is declared once, next to what uses it: the ``training`` section in
``srloss.training.settings``, ``evaluation`` in ``srloss.evaluation.settings`` (each metric's own
options with the metric), a dataset's keys in ``srloss.data.settings`` (each source's keys with
the source, ``degradation`` in ``srloss.data.degrade``), architectures, loss terms and metrics by
their registries. ``build_schema`` assembles those into the JSON Schema that Snakemake's
convention keeps at ``workflow/schemas/config.schema.yaml``; ``srloss generate`` rewrites that
file, and a test fails when the committed copy differs from what the declarations generate.

``check_schema`` reads the committed file (no registry, no torch: the workflow parse uses it),
reports the most relevant error as one line naming the key, and fills every default in place.
"""

from __future__ import annotations

import copy
import difflib
import functools
from pathlib import Path

import yaml

from srloss.errors import ConfigError

SCHEMA_PATH = Path(__file__).resolve().parents[3] / "workflow" / "schemas" / "config.schema.yaml"
HEADER = (
    "# Generated from srloss's declarations by `srloss generate`; do not edit by hand: tests/test_generated.py\n"
    "# fails when this file differs from what they generate (docs/architecture.md says where each is declared).\n"
)
NAME = {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9_.+=-]*$"}


# ----- generation -------------------------------------------------------------------------


def _named(kind: str, entry: dict, description: str) -> dict:
    """An object of named entries (datasets, models, losses): at least one, names as ``$defs/name``."""
    return {
        "description": description,
        "type": "object",
        "minProperties": 1,
        "propertyNames": {"$ref": "#/$defs/name"},
        "additionalProperties": entry,
    }


def _models() -> dict:
    from srloss.models import MODELS

    entry = {
        "type": "object",
        "additionalProperties": False,
        "required": ["arch"],
        "properties": {
            "arch": {
                "enum": list(MODELS),
                "x-what": MODELS.kind,
                "description": "Architecture (docs/configuration.md, Models).",
            },
            "options": {
                "type": "object",
                "default": {},
                "description": "Keyword options of the architecture, checked by its class (docs/configuration.md).",
            },
        },
    }
    return _named("model", entry, "Models to train (plus the bicubic baseline, added automatically).")


def _losses() -> dict:
    from srloss import tuning
    from srloss.losses import LOSS_TERMS

    term = {
        "type": "object",
        "required": ["name"],
        "properties": {
            "name": {
                "enum": list(LOSS_TERMS),
                "x-what": LOSS_TERMS.kind,
                "description": "Loss term (docs/configuration.md, Loss terms).",
            },
            "weight": {"type": "number", "default": 1.0, "description": "Weight of the term in the sum."},
            "label": {"$ref": "#/$defs/name", "description": "Column name of the term in logs (default: its name)."},
        },
        "description": "One term; its other keys are the term's options, checked by its class.",
    }
    entry = {
        "type": "object",
        "additionalProperties": False,
        "required": ["terms"],
        "properties": {
            "terms": {
                "description": "The loss is the weighted sum of these terms.",
                "type": "array",
                "minItems": 1,
                "items": term,
            },
            "training": {
                "type": "object",
                "description": (
                    "Training settings for this loss only (e.g. a GAN's Adam betas, a longer schedule), merged "
                    "over the study's `training` key by key. Result settings only: execution settings are "
                    "study-wide. Changing it reruns only this loss's runs."
                ),
            },
            "init_from": {
                "type": "object",
                "additionalProperties": False,
                "required": ["loss"],
                "properties": {"loss": {"$ref": "#/$defs/name"}},
                "description": (
                    "Start the generator from another loss's trained run (same dataset, model, scale and seed), "
                    "e.g. PSNR-oriented pre-training before a GAN run."
                ),
            },
            tuning.KEY: tuning.SCHEMA,
        },
    }
    return _named("loss", entry, "Losses to compare, each a weighted sum of terms.")


def _grid_lists() -> dict:
    from srloss.options import Option

    scales = Option(
        "scales",
        None,
        "Scale factors to train and test at.",
        type=list,
        item=Option("", 2, "", type=int, ge=2),
        min_items=1,
        unique=True,
    ).json_schema()
    scales.pop("default")
    seeds = Option(
        "seeds",
        (0,),
        "Seeds: one run per seed (the unit of replication for the statistics).",
        type=list,
        item=Option("", 0, "", type=int, ge=0),
        min_items=1,
        unique=True,
    ).json_schema()
    return {"scales": scales, "seeds": seeds}


def build_schema() -> dict:
    """The study config's JSON Schema, from the declarations (imports the registries: torch)."""
    from srloss.data.settings import dataset_schema
    from srloss.evaluation.settings import evaluation_schema
    from srloss.study import deviations
    from srloss.training.settings import TrainingSection

    training = TrainingSection.json_schema()
    training["description"] = "How every run trains (srloss.training.settings); losses may override result settings."
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "description": (
            "A loss study: datasets x models x losses x scales x seeds. Structure and types are checked here; "
            "names, options and files by srloss.study."
        ),
        "type": "object",
        "additionalProperties": False,
        "required": ["study", "datasets", "models", "losses", "scales"],
        "$defs": {"name": NAME},
        "properties": {
            "study": {"$ref": "#/$defs/name", "description": "Name of the study; outputs go to results/<study>/."},
            "datasets": _named("dataset", dataset_schema(), "Datasets: where images come from and how they degrade."),
            "models": _models(),
            "losses": _losses(),
            **_grid_lists(),
            "training": training,
            "evaluation": evaluation_schema(),
            deviations.KEY: deviations.SCHEMA,
        },
    }


def schema_text() -> str:
    """The schema file's text: a header, then the generated schema as YAML."""
    return HEADER + yaml.safe_dump(build_schema(), sort_keys=False, width=110, allow_unicode=True)


# ----- checking ---------------------------------------------------------------------------


@functools.lru_cache(maxsize=None)
def load_schema(path: Path = SCHEMA_PATH) -> dict:
    # libyaml's parser where PyYAML has it: the same objects, 15x faster for this generated file
    return yaml.load(path.read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # noqa: S506


def _schema_key(path) -> str:
    """``training.schedule.milestones[0]`` from a JSON-schema error path."""
    key = ""
    for part in path:
        key += f"[{part}]" if isinstance(part, int) else (f".{part}" if key else str(part))
    return key or "(top level)"


def schema_message(error) -> str:
    """One line for a ``jsonschema`` error: the key, what is wrong, the valid keys or choices."""
    key = _schema_key(error.absolute_path)
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        valid = list(error.schema.get("properties", {}))
        unknown = sorted(k for k in error.instance if k not in valid)
        close = difflib.get_close_matches(str(unknown[0]), valid, n=1) if unknown else []
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        return f"config key {key}: unknown key {', '.join(map(repr, unknown))}{hint}; valid keys: {', '.join(valid)}"
    if error.validator == "enum":
        choices = [str(c) for c in error.validator_value]
        close = difflib.get_close_matches(str(error.instance), choices, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        what = error.schema.get("x-what", "value")
        return f"config key {key}: unknown {what} {error.instance!r}{hint}; valid choices: {', '.join(choices)}"
    if error.validator == "pattern" and "x-expected" in error.schema:
        return f"config key {key}: expected {error.schema['x-expected']}, got {error.instance!r}"
    message = error.message if len(error.message) <= 200 else error.message[:200] + "..."
    if error.validator == "type" and isinstance(error.instance, str):
        try:
            number = float(error.instance)
            return f"config key {key}: {message}; write the number without quotes ({number!r})"
        except ValueError:
            pass
    return f"config key {key}: {message}"


@functools.lru_cache(maxsize=None)
def _validator(path: Path):
    """A Draft 2020-12 validator that also fills each property's default as it descends."""
    import jsonschema

    base = jsonschema.Draft202012Validator
    check_properties = base.VALIDATORS["properties"]

    def properties_with_defaults(validator, properties, instance, schema):
        if isinstance(instance, dict):
            for name, sub in properties.items():
                if "default" in sub and name not in instance:
                    instance[name] = copy.deepcopy(sub["default"])
        yield from check_properties(validator, properties, instance, schema)

    filling = jsonschema.validators.extend(base, {"properties": properties_with_defaults})
    return filling(load_schema(path)), base(load_schema(path))


def check_schema(config: dict, path: str | Path = SCHEMA_PATH) -> None:
    """Check ``config`` against the schema and fill in every default, in place; the most relevant
    error as one ``ConfigError`` line naming the key."""
    import jsonschema

    filling, plain = _validator(Path(path))
    error = jsonschema.exceptions.best_match(plain.iter_errors(config))  # first on the config as given
    if error is not None:
        raise ConfigError(schema_message(error))
    for _ in filling.iter_errors(config):  # the config is valid; this pass fills the defaults
        pass
