"""Reading a study's config files: YAML read strictly (duplicate keys refused, ``1e-3`` a number,
errors with file, line and column), several files and ``--config`` overrides merged in order.
"""

from __future__ import annotations

import contextlib
import json
import re
import sys
from collections.abc import Mapping
from pathlib import Path

import yaml

from srloss.errors import ConfigError, UserError


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


def _deep_update(base: dict, other: Mapping) -> None:
    """Merge ``other`` into ``base`` recursively, as Snakemake merges config files and --config."""
    for key, value in other.items():
        if isinstance(value, Mapping) and isinstance(base.get(key), dict):
            _deep_update(base[key], value)
        else:
            base[key] = dict(value) if isinstance(value, Mapping) else value


def loss_training(training: Mapping, loss: Mapping) -> dict:
    """The study's ``training`` with a loss's own ``training`` overrides merged over it (deep)."""
    merged = json.loads(json.dumps(training))  # a deep copy: the study's settings stay untouched
    _deep_update(merged, loss.get("training", {}))
    return merged


def parse_overrides(args: list[str] | str | None) -> dict:
    """``--config`` arguments (``key=value``, Snakemake's syntax) as a dict, each value read as YAML
    with ``StudyLoader``: ``seeds=[0,1]`` gives numbers, ``training={lr: 1e-3}`` a mapping, as in a
    config file (Snakemake's own reading keeps the numbers inside lists and mappings as strings)."""
    if isinstance(args, str):
        args = [args]
    overrides: dict = {}
    for arg in args or []:
        key, sep, text = str(arg).partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--config {arg!r}: expected key=value, e.g. seeds=[0,1] or training={{lr: 1.0e-3}}")
        try:
            value = yaml.load(text, Loader=StudyLoader) if text.strip() else None  # noqa: S506 (a SafeLoader)
        except yaml.YAMLError as e:
            raise ConfigError(f"--config {arg!r}: {_yaml_error('--config', e)}") from None
        overrides[key.strip()] = value
    return overrides


def read_config(configfiles: list[str | Path], overrides: list[str] | str | None = None) -> dict:
    """The study config: the files merged in order (later keys win, mappings merged key by key, as
    Snakemake merges ``--configfile``), then the ``--config`` overrides on top."""
    merged: dict = {}
    for path in configfiles:
        _deep_update(merged, load_yaml(path))
    _deep_update(merged, parse_overrides(overrides))
    return merged


@contextlib.contextmanager
def exit_on_config_error():
    """In the Snakefile: end the run with a ``UserError``'s one-line message (no traceback)."""
    try:
        yield
    except UserError as e:
        sys.exit(f"srloss: config error: {e}")
