"""The study config: semantic checks beyond the JSON schema, the grid of runs, and per-job specs.

The JSON schema (``workflow/schemas/config.schema.yaml``) checks structure and types and fills
defaults; ``Study`` then checks what the schema cannot know: that every architecture, loss term,
option and image name exists, and that every model supports every scale of the study. Options
are checked by the class that owns them (``check_options``, declared with ``srloss.options``),
the same check the class applies when it is built inside a job. Every error names the config key
and lists the valid choices.
"""

from __future__ import annotations

import contextlib
import difflib
import hashlib
import importlib
import json
import math
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import yaml

from srloss.data.sources import (
    PACKAGED_IMAGES,
    PACKAGED_NAMES,
    PACKAGED_SOURCES,
    BenchmarkSource,
    DatasetError,
    Div2kSource,
    check_image_sizes,
    dataset_frames,
    patch_at,
)
from srloss.errors import UserError
from srloss.options import OptionError
from srloss.schedules import REQUIRED as SCHEDULE_REQUIRED
from srloss.training.config import EXECUTION_KEYS, result_settings
from srloss.weights import uses_random_backbone


class _LazyRegistry(Mapping):
    """A registry imported on first use: the registries import torch (seconds), and the Snakefile
    parse, which builds a ``Study`` for every dry run and every cluster job, usually needs none."""

    def __init__(self, module: str, name: str):
        self.module, self._name = module, name

    def _registry(self) -> Mapping:
        return getattr(importlib.import_module(self.module), self._name)

    def __getitem__(self, key):
        return self._registry()[key]

    def __iter__(self):
        return iter(self._registry())

    def __len__(self) -> int:
        return len(self._registry())


LOSS_TERMS = _LazyRegistry("srloss.losses", "LOSS_TERMS")
MODELS = _LazyRegistry("srloss.models", "MODELS")

BASELINE_LOSS = "none"  # the loss wildcard of models that are not trained
SPLITS = ("train", "val", "test")


class ConfigError(UserError, ValueError):
    """A config value is invalid; the message names the key."""


@dataclass(frozen=True)
class Run:
    """One cell of the grid: a (dataset, model, loss, scale, seed) combination."""

    dataset: str
    model: str
    loss: str
    scale: int
    seed: int

    @property
    def trained(self) -> bool:
        return self.loss != BASELINE_LOSS


class StudyLoader(yaml.SafeLoader):
    """PyYAML's safe loader, stricter where silence would change the study.

    * A key given twice in one mapping is refused with both line numbers (the safe loader keeps
      the last one, silently replacing e.g. a whole loss definition).
    * ``1e-3`` is read as the number it looks like (YAML 1.2; YAML 1.1 makes it a string,
      because its float pattern requires a dot and a signed exponent).
    """


def _construct_mapping(loader: StudyLoader, node: yaml.MappingNode) -> dict:
    seen: dict = {}
    for key_node, _ in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge":
            continue  # `<<: *anchor` merges are allowed to be overridden
        key = loader.construct_object(key_node, deep=True)
        line = key_node.start_mark.line + 1
        if isinstance(key, (str, int, float, bool)) and key in seen:
            raise ConfigError(
                f"{key_node.start_mark.name}:{line}: duplicate key {key!r} (first given on line {seen[key]}); "
                "a YAML mapping keeps only the last one: remove or rename one of them"
            )
        seen[key] = line
    loader.flatten_mapping(node)
    return dict(loader.construct_pairs(node, deep=True))


StudyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
StudyLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9_]+)[eE][-+]?[0-9]+$"),
    list("-+0123456789."),
)


def _yaml_error(path: str | Path, e: yaml.YAMLError) -> ConfigError:
    """One line naming file, line and column of a YAML syntax error."""
    mark = getattr(e, "problem_mark", None) or getattr(e, "context_mark", None)
    where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark is not None else str(path)
    problem = " ".join(str(x) for x in (getattr(e, "context", None), getattr(e, "problem", None)) if x) or str(e)
    hint = "; tabs are not allowed for indentation" if "\t" in problem or "tab" in problem else ""
    return ConfigError(f"{where}: YAML syntax error: {problem}{hint}")


def load_yaml(path: str | Path) -> dict:
    """Read a YAML config file with ``StudyLoader`` (safe, refuses duplicate keys, 1e-3 is a number).

    Errors are ``ConfigError``s naming the file, line and column.
    """
    try:
        with open(path, encoding="utf-8") as f:
            data = yaml.load(f, Loader=StudyLoader)  # noqa: S506 (StudyLoader is a SafeLoader)
    except OSError as e:
        raise ConfigError(f"{path}: cannot read the config file: {e.strerror or e}") from e
    except yaml.YAMLError as e:
        raise _yaml_error(path, e) from e
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level, got {type(data).__name__}")
    return data


def _checked_options(key: str, cls: type, options: dict) -> dict:
    """``cls.check_options(**options)``: every option checked by its class, as a ``ConfigError``
    naming the option's key (``key.option``), the value and what was expected."""
    try:
        return cls.check_options(**{str(k): v for k, v in options.items()})
    except OptionError as e:
        raise ConfigError(f"config key {key}.{e.option}: {e.detail}") from None


# Which optional dataset keys each source accepts (the schema lists them all).
SOURCE_KEYS = {
    "packaged": set(),
    "skimage": set(),
    "div2k": {"root", "url"},
    "benchmark": {"root", "url"},
    "folder": {"root"},
    "mlfdb": {"root", "archive"},
}


def _check_dataset(key: str, ds: dict, scales: list[int]) -> None:
    """Semantic checks of one dataset definition that need no files on disk."""
    source = ds["source"]
    for opt in ("root", "archive", "url"):
        if opt in ds and opt not in SOURCE_KEYS[source]:
            valid = ", ".join(sorted(k for k, v in SOURCE_KEYS.items() if opt in v))
            raise ConfigError(f"config key {key}.{opt}: not used by source {source!r}; it applies to sources: {valid}")
    if source == "folder" and "root" not in ds:
        raise ConfigError(f"config key {key}.root: source 'folder' needs the folder holding the images")
    if source == "mlfdb":
        if ("root" in ds) == ("archive" in ds):
            raise ConfigError(
                f"config key {key}: source 'mlfdb' needs exactly one of `root` (the extracted database) or `archive` "
                "(a local .zip/.tar); MLFDB cannot be downloaded automatically, see doi:10.3390/app10207213"
            )
        deg = ds.get("degradation", {})
        synthetic = [k for k in ("blur_sigma", "noise_sigma", "jpeg_quality") if deg.get(k)]
        if synthetic:
            raise ConfigError(
                f"config key {key}.degradation: {', '.join(synthetic)} do not apply to mlfdb, whose LR frames "
                "are real; only `frames` does"
            )
    elif "splits" not in ds:
        raise ConfigError(f"config key {key}.splits: required for source {source!r} (train, val and test image lists)")
    splits = ds.get("splits", {})
    if ("train" in splits) != ("val" in splits):
        given, absent = ("train", "val") if "train" in splits else ("val", "train")
        raise ConfigError(
            f"config key {key}.splits: {given} is given without {absent}; a dataset to train on needs train, val "
            "and test, a test set (see test_on) only test"
        )
    expanded: dict[str, list[str]] = {}
    for split in SPLITS:
        for i, entry in enumerate(splits.get(split, [])):
            where = f"config key {key}.splits.{split}[{i}]"
            try:
                if source in PACKAGED_SOURCES and entry not in PACKAGED_IMAGES:
                    raise ConfigError(
                        f"config key {key}.splits.{split}: unknown packaged image {entry!r}; "
                        f"valid choices: {', '.join(PACKAGED_NAMES)}"
                    )
                if source == "div2k":
                    expanded.setdefault(split, []).extend(Div2kSource.expand(entry))
                    continue
                if source == "benchmark":
                    BenchmarkSource.check_entry(entry)
            except DatasetError as e:
                raise ConfigError(f"{where}: {e}") from e
            expanded.setdefault(split, []).append(entry)
    seen: dict[str, str] = {}
    for split in SPLITS:
        for image in expanded.get(split, []):
            if image in seen and seen[image] != split:
                raise ConfigError(f"config key {key}.splits: image {image!r} is in both {seen[image]!r} and {split!r}")
            seen[image] = split
    for field in ("patch_size", "stride") if not is_test_set(ds) else ():
        _check_patch_field(f"{key}.{field}", ds, field, scales)  # a test set cuts no patches


def _check_patch_field(key: str, ds: dict, field: str, scales: list[int]) -> None:
    """``patch_size``/``stride``: a multiple of every scale, or a mapping with one entry per scale."""
    value = ds[field]
    if isinstance(value, dict):
        keys = [int(k) if str(k).isdigit() else k for k in value]
        extra = [k for k in keys if k not in scales]
        if extra:
            raise ConfigError(f"config key {key}: entries for {extra}, which are not in `scales` {scales}")
        missing = [s for s in scales if s not in keys]
        if missing:
            raise ConfigError(f"config key {key}: no entry for scale(s) {missing}; give one for every scale {scales}")
        bad = [s for s in scales if patch_at(ds, field, s) % s]
    else:
        bad = [s for s in scales if value % s]
    if bad:
        raise ConfigError(
            f"config key {key}: {value} is not a multiple of scale(s) {bad}; at each scale it must be "
            "divisible by that scale"
        )


def _check_frames(key: str, arch: str, frames: int | None, datasets: dict) -> None:
    """A multi-frame model (``frames`` not None) needs datasets with as many frames per sample.

    Single-image models run on any dataset (on multi-frame data they use the reference frame).
    """
    if frames is None:
        return
    for ds_name, ds in datasets.items():
        ds_frames = dataset_frames(ds)
        if ds_frames != frames:
            have = f"{ds_frames}-frame samples" if ds_frames > 1 else "single images"
            raise ConfigError(
                f"config key {key}: arch {arch!r} takes {frames} frames per sample, but dataset "
                f"{ds_name!r} provides {have} (datasets.{ds_name}.degradation.frames); use a multi-frame "
                f"dataset with {frames} frames or set {key}.options.frames to match"
            )


def _check_model(name: str, model: dict, config: dict) -> None:
    """The architecture exists, its class accepts the options, and it supports every scale and dataset."""
    key, arch = f"models.{name}", model["arch"]
    if arch not in MODELS:
        raise ConfigError(
            f"config key {key}.arch: unknown architecture {arch!r}; valid choices: {', '.join(sorted(MODELS))}"
        )
    cls = MODELS[arch]
    options = _checked_options(f"{key}.options", cls, model.get("options", {}))
    unsupported = [s for s in config["scales"] if s not in cls.scales]
    if unsupported:
        raise ConfigError(
            f"config key scales: model {name!r} (arch {arch!r}) does not support scale(s) {unsupported}; "
            f"supported scales: {list(cls.scales)}"
        )
    _check_frames(key, arch, options.get("frames", cls.frames), config["datasets"])


def _check_term(tkey: str, term: dict, datasets: dict, scales: list[int]) -> None:
    """One loss term: a known name, options its class accepts, a usable weight, patches it fits."""
    from srloss.losses import term_options

    if term["name"] not in LOSS_TERMS:
        raise ConfigError(
            f"config key {tkey}.name: unknown loss term {term['name']!r}; valid choices: "
            f"{', '.join(sorted(LOSS_TERMS))}"
        )
    cls = LOSS_TERMS[term["name"]]
    options = _checked_options(tkey, cls, term_options(term))
    weight = term.get("weight", 1.0)
    if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not math.isfinite(weight):
        raise ConfigError(f"config key {tkey}.weight: expected a finite number, got {weight!r}")
    if weight < 0 and not cls.allows_negative_weight:
        raise ConfigError(
            f"config key {tkey}.weight: {weight} is negative; term {term['name']!r} needs a weight >= 0 "
            "(a negative weight would maximise it)"
        )
    for ds_name, ds in datasets.items():
        try:
            for scale in scales:
                cls.check_patch_size(options, patch_at(ds, "patch_size", scale))
        except OptionError as e:
            raise ConfigError(f"config key {tkey}.{e.option}: {e.detail} (datasets.{ds_name}.patch_size)") from None


def _check_loss(name: str, loss: dict, datasets: dict, scales: list[int]) -> None:
    """A loss: a free name, valid terms with unique labels, at most one adversarial term."""
    from srloss.losses import term_labels

    key = f"losses.{name}"
    if name == BASELINE_LOSS:
        raise ConfigError(
            f"config key {key}: the loss name {BASELINE_LOSS!r} is reserved for untrained baselines; "
            "choose another name"
        )
    for i, term in enumerate(loss["terms"]):
        _check_term(f"{key}.terms[{i}]", term, datasets, scales)
    labels = term_labels(loss["terms"])
    for i, label in enumerate(labels):
        if label in labels[:i]:
            raise ConfigError(
                f"config key {key}.terms[{i}].label: label {label!r} is already used by "
                f"terms[{labels.index(label)}]; labels name the logged columns and must be unique"
            )
    for setting in loss.get("training", {}):
        if setting in EXECUTION_KEYS:
            raise ConfigError(
                f"config key {key}.training.{setting}: an execution setting applies to the whole study; "
                "set it in `training`"
            )
    adversarial = [i for i, t in enumerate(loss["terms"]) if t["name"] == "adversarial"]
    if len(adversarial) > 1:
        raise ConfigError(
            f"config key {key}.terms: {len(adversarial)} adversarial terms (positions {adversarial}); "
            "a loss trains at most one discriminator"
        )


def check_config(config: dict) -> None:
    """Raise ``ConfigError`` naming the key of the first semantic error in ``config``."""
    scales = config["scales"]
    for name, ds in config["datasets"].items():
        _check_dataset(f"datasets.{name}", ds, scales)
    _check_test_on(config["datasets"])
    for name, model in config["models"].items():
        _check_model(name, model, config)
    for name, loss in config["losses"].items():
        _check_loss(name, loss, config["datasets"], scales)
    _check_init_from(config["losses"])
    _check_training(config.get("training", {}))
    for name, loss in config["losses"].items():
        if "training" in loss:
            _check_training(loss_training(config.get("training", {}), loss), f"losses.{name}.training")
    _check_devices(config)
    _check_budget_steps(config)
    _check_evaluation(config)


def is_test_set(ds: dict) -> bool:
    """A dataset with a test split only: nothing trains on it; other datasets' ``test_on`` name it."""
    return "splits" in ds and "train" not in ds["splits"]


def _check_test_on(datasets: dict) -> None:
    """``datasets.<name>.test_on`` names other datasets whose samples fit the same models (frames);
    a test set (test split only) is named by some dataset's ``test_on`` and names none itself."""
    for name, ds in datasets.items():
        key = f"config key datasets.{name}.test_on"
        for other in ds.get("test_on", []):
            if other not in datasets or other == name:
                valid = ", ".join(d for d in datasets if d != name) or "(no other dataset)"
                what = "its own test split is always evaluated" if other == name else "unknown dataset"
                raise ConfigError(f"{key}: {other!r}: {what}; valid choices: {valid}")
            if dataset_frames(datasets[other]) != dataset_frames(ds):
                raise ConfigError(
                    f"{key}: {other!r} has {dataset_frames(datasets[other])} frame(s) per sample and {name!r} has "
                    f"{dataset_frames(ds)}; a model trained on one cannot be tested on the other (degradation.frames)"
                )
        if is_test_set(ds):
            if ds.get("test_on"):
                raise ConfigError(f"{key}: {name!r} has a test split only, so nothing is trained on it to test")
            if not any(name in d.get("test_on", []) for d in datasets.values()):
                raise ConfigError(
                    f"config key datasets.{name}.splits: a test split only, but no dataset's test_on names {name!r}; "
                    f"add it to a training dataset's test_on, or give {name!r} train and val splits too"
                )
    if all(is_test_set(ds) for ds in datasets.values()):
        raise ConfigError("config key datasets: every dataset is a test set (test split only); nothing to train on")


def _check_evaluation(config: dict) -> None:
    """``evaluation.ffr.datasets`` name datasets; ``evaluation.reference`` is ``baseline`` or a loss."""
    evaluation = config.get("evaluation", {})
    for name in evaluation.get("ffr", {}).get("datasets", []):
        if name not in config["datasets"]:
            raise ConfigError(
                f"config key evaluation.ffr.datasets: unknown dataset {name!r}; valid choices: "
                f"{', '.join(config['datasets'])}"
            )
    reference = evaluation.get("reference", "baseline")
    if reference != "baseline" and reference not in config["losses"]:
        raise ConfigError(
            f"config key evaluation.reference: {reference!r} is neither 'baseline' nor a loss of the study; "
            f"valid choices: baseline, {', '.join(config['losses'])}"
        )


def _check_init_from(losses: dict) -> None:
    """``losses.<name>.init_from.loss`` must name another loss, without cycles."""
    for name, loss in losses.items():
        seen = [name]
        current = loss
        while "init_from" in current:
            ref = current["init_from"]["loss"]
            key = f"losses.{seen[-1]}.init_from.loss"
            if ref not in losses:
                raise ConfigError(
                    f"config key {key}: unknown loss {ref!r}; valid choices: "
                    f"{', '.join(n for n in losses if n != seen[-1])}"
                )
            if ref in seen:
                raise ConfigError(
                    f"config key {key}: initialisation cycle {' -> '.join(seen + [ref])}; a loss cannot start "
                    "from itself"
                )
            seen.append(ref)
            current = losses[ref]


DEVICE = re.compile(r"auto|cpu|cuda(?::[0-9]+)?")


def _check_devices(config: dict) -> None:
    """``training.device`` and ``evaluation.device`` name a device torch knows, in the documented forms."""
    for section in ("training", "evaluation"):
        value = config.get(section, {}).get("device", "auto")
        if not isinstance(value, str) or not DEVICE.fullmatch(value):
            raise ConfigError(
                f"config key {section}.device: {value!r} is not a device; valid choices: auto (a GPU if one "
                "is visible, else the CPU), cpu, cuda, cuda:N (N = GPU index)"
            )


def run_length(training: Mapping) -> int | None:
    """A run's number of steps when the config fixes it (``steps``, or ``epochs`` x
    ``steps_per_epoch``); None when it depends on the number of training patches."""
    if training.get("epochs") is None:
        return training.get("steps")
    per_epoch = training.get("steps_per_epoch")
    return training["epochs"] * per_epoch if per_epoch else None


def _check_budget_steps(config: dict) -> None:
    """``evaluation.steps`` must lie within every loss's run length (the study's ``training`` with
    the loss's own overrides); a length set in epochs of the data is checked when training starts."""
    steps = config.get("evaluation", {}).get("steps", [])
    if not steps:
        return
    for name, loss in config["losses"].items():
        where = f"losses.{name}.training" if "training" in loss else "training"
        length = run_length(loss_training(config.get("training", {}), loss))
        if length is not None and max(steps) > length:
            raise ConfigError(
                f"config key evaluation.steps: step {max(steps)} is beyond the run length of loss {name!r} "
                f"({length} steps, {where}); expected steps between 1 and {length}"
            )


def _check_training(training: dict, key: str = "training") -> None:
    """Cross-key rules of a ``training`` block (the study's, or a loss's merged over it)."""
    if training.get("steps_per_epoch") is not None and training.get("epochs") is None:
        raise ConfigError(
            f"config key {key}.steps_per_epoch: set {key}.epochs too (the run length is epochs x "
            "steps_per_epoch), or remove it and use steps"
        )
    schedule = training.get("schedule", {})
    for field in SCHEDULE_REQUIRED.get(schedule.get("name", "none"), ()):
        if field not in schedule:
            raise ConfigError(f"config key {key}.schedule.{field}: required by schedule {schedule['name']!r}")


def _facts(config: dict) -> dict:
    """What the parse needs from the registries: whether each architecture of the config (and
    ``bicubic``) is trained, and the pretrained weight files each loss loads."""
    from srloss.losses import required_backbones

    archs = {m["arch"] for m in config["models"].values()} | {"bicubic"}
    return {
        "trainable": {arch: bool(MODELS[arch].trainable) for arch in sorted(archs)},
        "backbones": {name: required_backbones(loss["terms"]) for name, loss in config["losses"].items()},
    }


def _checked(config: dict, cache_dir: str | Path | None) -> dict:
    """Run ``check_config`` unless ``cache_dir`` records that this exact config passed it with the
    same srloss sources (``srloss.codehash`` of this module, the registries and what they import);
    return the config's ``_facts``, from the cache when it has them (no torch import then)."""
    from srloss.atomic import write_text
    from srloss.codehash import stage_hash

    cache = None
    if cache_dir is not None:
        # the registries are imported lazily (by name), so their sources are hashed explicitly
        code = "".join(stage_hash(m) for m in (__name__, LOSS_TERMS.module, MODELS.module))
        key = hashlib.sha256((to_json(config) + code).encode()).hexdigest()[:24]
        cache = Path(cache_dir) / f"checked-{key}.json"
        try:
            facts = json.loads(cache.read_text())
            if {"trainable", "backbones"} <= set(facts):
                return facts
        except (OSError, ValueError):
            pass
    check_config(config)
    facts = _facts(config)
    if cache is not None:
        write_text(cache, json.dumps(facts))
    return facts


def check_dataset_files(config: dict) -> None:
    """Checks of the datasets' files on disk, run at every parse (files change; this is not cached).

    A ``root`` must exist; images of ``folder`` datasets must exist and, like the embedded ones,
    be large enough for their split (``sources.check_image_sizes``, header reads only).
    """
    for name, ds in config["datasets"].items():
        key = f"config key datasets.{name}"
        if ds.get("root") and not Path(ds["root"]).is_dir():
            raise ConfigError(
                f"{key}.root: folder {ds['root']!r} does not exist (relative paths start at the working directory)"
            )
        try:
            check_image_sizes(ds, config["scales"])
        except UserError as e:
            text = str(e)
            raise ConfigError(f"{key}.{text}" if text.startswith("splits.") else f"{key}: {text}") from e


def _schema_key(path) -> str:
    """``training.schedule.milestones[0]`` from a JSON-schema error path."""
    key = ""
    for part in path:
        key += f"[{part}]" if isinstance(part, int) else (f".{part}" if key else str(part))
    return key or "(top level)"


def schema_message(error) -> str:
    """One line for a ``jsonschema`` error: the key, what is wrong, the valid keys for an unknown one."""
    key = _schema_key(error.absolute_path)
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        valid = list(error.schema.get("properties", {}))
        unknown = sorted(k for k in error.instance if k not in valid)
        close = difflib.get_close_matches(unknown[0], valid, n=1) if unknown else []
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        return f"config key {key}: unknown key {', '.join(map(repr, unknown))}{hint}; valid keys: {', '.join(valid)}"
    message = error.message if len(error.message) <= 200 else error.message[:200] + "..."
    if error.validator == "type" and isinstance(error.instance, str):
        try:
            number = float(error.instance)
            return f"config key {key}: {message}; write the number without quotes ({number!r})"
        except ValueError:
            pass
    return f"config key {key}: {message}"


def check_schema(config: dict, schema_path: str | Path) -> None:
    """Check ``config`` against the JSON schema; raise the most relevant error as one ``ConfigError`` line.

    ``snakemake.utils.validate`` (which also fills the defaults) prints the whole schema on an
    error; running this first gives the user one line instead. A loss's ``training`` overrides
    are checked merged over the study's ``training``, against the same rules.
    """
    import jsonschema

    schema = yaml.safe_load(Path(schema_path).read_text())
    error = jsonschema.exceptions.best_match(jsonschema.Draft202012Validator(schema).iter_errors(config))
    if error is not None:
        raise ConfigError(schema_message(error))
    training_schema = jsonschema.Draft202012Validator(schema["properties"]["training"])
    for name, loss in config["losses"].items():
        merged = loss_training(config.get("training", {}), loss)
        error = jsonschema.exceptions.best_match(training_schema.iter_errors(merged))
        if error is not None:
            message = schema_message(error).removeprefix("config key ")
            where = f"losses.{name}.training" + ("" if message.startswith("(top level)") else ".")
            raise ConfigError(f"config key {where}{message.removeprefix('(top level)')}")


def loss_training(training: Mapping, loss: Mapping) -> dict:
    """The study's ``training`` with a loss's own ``training`` overrides merged over it (deep)."""
    merged = json.loads(json.dumps(training))  # a deep copy: the study's settings stay untouched
    _deep_update(merged, loss.get("training", {}))
    return merged


def _deep_update(base: dict, other: Mapping) -> None:
    """Merge ``other`` into ``base`` recursively, as Snakemake merges config files and --config."""
    for key, value in other.items():
        if isinstance(value, Mapping) and isinstance(base.get(key), dict):
            _deep_update(base[key], value)
        else:
            base[key] = dict(value) if isinstance(value, Mapping) else value


def reread_config(config: dict, configfiles: list, overrides: Mapping) -> None:
    """Replace, in place, Snakemake's reading of the config files by ``load_yaml``'s.

    Snakemake reads ``configfile:``/``--configfile`` itself, with a loader that keeps the last
    of two equal keys and reads ``1e-3`` as a string. Reading the same files again with
    ``StudyLoader`` and applying the ``--config`` overrides on top (as Snakemake does) gives the
    same config, with those mistakes refused or fixed.
    """
    merged: dict = {}
    for path in configfiles:
        _deep_update(merged, load_yaml(path))
    _deep_update(merged, overrides)
    config.clear()
    config.update(merged)


@contextlib.contextmanager
def exit_on_config_error():
    """In the Snakefile: end the run with a ``UserError``'s one-line message (no traceback)."""
    try:
        yield
    except UserError as e:
        sys.exit(f"srloss: config error: {e}")


class Study:
    """A validated config and the grid it describes."""

    def __init__(self, config: dict, cache_dir: str | Path | None = None):
        """``cache_dir``: remember that this config passed the checks with this code (and which
        architectures are trained), so that the next parse needs neither torch nor the checks."""
        facts = _checked(config, cache_dir)
        self._trainable: dict[str, bool] = facts["trainable"]
        self._backbones: dict[str, list[str]] = facts["backbones"]
        check_dataset_files(config)
        self.config = config
        self.name: str = config["study"]
        self.models = dict(config["models"])
        if not any(not self._trainable[m["arch"]] for m in self.models.values()):
            self.models["bicubic"] = {"arch": "bicubic", "options": {}}  # the baseline is always in the table

    def is_trained(self, model: str) -> bool:
        return self._trainable[self.models[model]["arch"]]

    def loss_backbones(self, loss: str) -> list[str]:
        """The pretrained weight files (``srloss.weights.WEIGHT_FILES`` names) loss ``loss`` loads."""
        return self._backbones.get(loss, [])

    def backbones(self) -> list[str]:
        """The pretrained weight files any loss of the study loads (sorted)."""
        return sorted({b for names in self._backbones.values() for b in names})

    def runs(self) -> list[Run]:
        """Every evaluated cell: trained models × losses × scales × seeds, plus baselines × scales."""
        cfg = self.config
        out = []
        for dataset in self.training_datasets():
            for model in self.models:
                for scale in cfg["scales"]:
                    if self.is_trained(model):
                        out += [
                            Run(dataset, model, loss, scale, seed) for loss in cfg["losses"] for seed in cfg["seeds"]
                        ]
                    else:
                        out.append(Run(dataset, model, BASELINE_LOSS, scale, 0))
        return out

    def training_datasets(self) -> list[str]:
        """The datasets models are trained on (all but the test sets, ``is_test_set``), in config order."""
        return [name for name, ds in self.config["datasets"].items() if not is_test_set(ds)]

    def test_sets(self, dataset: str) -> list[str]:
        """The test splits models trained on ``dataset`` are evaluated on: its own, then its ``test_on``."""
        return [dataset, *self.config["datasets"][dataset].get("test_on", [])]

    def shards(self) -> list[tuple[str, int, str]]:
        """(dataset, scale, split) of every shard the study reads: train, val and test of each
        training dataset, the test split of each test set, at every scale."""
        used = {d for d in self.training_datasets()} | {t for d in self.training_datasets() for t in self.test_sets(d)}
        return [
            (name, scale, split)
            for name, ds in self.config["datasets"].items()
            if name in used
            for scale in self.config["scales"]
            for split in (("test",) if is_test_set(ds) else SPLITS)
        ]

    def cross_evaluations(self) -> list[tuple[Run, str]]:
        """(run, test set) of every evaluation on another dataset's test split (``test_on``)."""
        return [(run, test_set) for run in self.runs() for test_set in self.test_sets(run.dataset)[1:]]

    def dataset_spec(self, dataset: str) -> dict:
        return self.config["datasets"][dataset]

    def run_spec(self, run: Run) -> dict:
        """Everything that determines one run's result: what the train and evaluate jobs receive."""
        model = self.models[run.model]
        spec = {
            "study": self.name,
            "dataset": run.dataset,
            "model": run.model,
            "arch": model["arch"],
            "model_options": model.get("options", {}),
            "loss": run.loss,
            "scale": run.scale,
            "seed": run.seed,
        }
        if run.trained:
            loss = self.config["losses"][run.loss]
            spec["terms"] = loss["terms"]
            # True when a term uses a randomly initialised backbone: the result is NOT the published loss.
            spec["random_backbone"] = uses_random_backbone(spec["terms"])
            # execution settings never rerun a job; the loss's own overrides rerun only its runs
            training = result_settings(loss_training(self.config["training"], loss))
            if not self.is_adversarial(run.loss):
                training.pop("discriminator", None)  # so editing it reruns only the GAN runs
            spec["training"] = training
            if "init_from" in loss:
                spec["init_from"] = loss["init_from"]
            steps = self.config.get("evaluation", {}).get("steps", [])
            if steps:  # budget curves: the generator is saved at these steps (absent: specs as before)
                spec["save_steps"] = sorted(steps)
        return spec

    def is_adversarial(self, loss: str) -> bool:
        return any(t["name"] == "adversarial" for t in self.config["losses"][loss]["terms"])

    def init_run(self, run: Run) -> Run | None:
        """The run whose trained generator ``run`` starts from (``losses.<loss>.init_from``), if any."""
        ref = self.config["losses"].get(run.loss, {}).get("init_from")
        return Run(run.dataset, run.model, ref["loss"], run.scale, run.seed) if ref else None

    def evaluation_spec(self, test_set: str) -> dict:
        """The evaluate job's settings for one test set, a dataset whose test split is measured
        (FFR on only for the datasets listed).

        Reads the schema-validated config, whose defaults the schema has filled in. ``device``
        and ``batch_size`` are left out: they change how the job runs, not its result, so they
        reach the job apart from its identity (the evaluate rule passes them as options).
        """
        ev = self.config["evaluation"]
        ffr = {k: v for k, v in ev["ffr"].items() if k != "datasets"}
        ffr["enabled"] = test_set in ev["ffr"]["datasets"]
        return {"metrics": ev["metrics"], "lpips": ev["lpips"], "ffr": ffr, "crops": ev["crops"], "test_set": test_set}

    def trained_views(self) -> list[tuple[str, str, int]]:
        """(dataset, model, scale) of every trained model: one results table and grid each."""
        return [
            (d, m, s)
            for d in self.training_datasets()
            for m in self.models
            if self.is_trained(m)
            for s in self.config["scales"]
        ]


# Settings that change how a job runs, not its result: kept out of every job's identity (params).
EXECUTION_ONLY = {
    "training": EXECUTION_KEYS,
    "evaluation": ("batch_size", "device", "tile", "max_batch_pixels"),
}


def result_config(config: dict) -> dict:
    """``config`` without the ``EXECUTION_ONLY`` settings: what the study's results depend on."""
    out = dict(config)
    for section, keys in EXECUTION_ONLY.items():
        if section in out:
            out[section] = {k: v for k, v in out[section].items() if k not in keys}
    return out


def to_json(spec: dict) -> str:
    """Deterministic JSON (sorted keys), so Snakemake's params trigger sees real changes only."""
    return json.dumps(spec, sort_keys=True, separators=(",", ":"))


def main(argv: list[str] | None = None) -> int:
    """``python -m srloss.config study.yaml``: check a study config as the workflow will, without Snakemake.

    Snakemake reads ``--configfile`` before the workflow starts and reports a YAML syntax
    error without file or line; this check names them.
    """
    import argparse

    parser = argparse.ArgumentParser(prog="python -m srloss.config", description=main.__doc__)
    parser.add_argument("configfile", nargs="+", help="study config(s), merged in order like --configfile")
    args = parser.parse_args(argv)
    from snakemake.utils import validate

    try:
        config: dict = {}
        reread_config(config, args.configfile, {})
        schema = Path(__file__).resolve().parents[2] / "workflow/schemas/config.schema.yaml"
        check_schema(config, schema)
        validate(config, str(schema))
        study = Study(config)
    except UserError as e:
        print(f"srloss: config error: {e}", file=sys.stderr)
        return 3
    print(f"{', '.join(args.configfile)}: OK, study {study.name!r}: {len(study.runs())} evaluated runs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
