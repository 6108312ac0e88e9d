"""The JSON schema check of a study config, one line per error (key, what is wrong, the fix)."""

from __future__ import annotations

import difflib
from pathlib import Path

import yaml

from srloss.errors import ConfigError
from srloss.study.loading import loss_training


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
