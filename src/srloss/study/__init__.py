"""The study: a config read, checked and turned into the grid of runs and each job's spec.

One entry point, ``load_study``, used by the Snakefile, ``srloss check`` and the tests alike:

    read (``loading``: YAML files merged, ``--config`` overrides on top)
    -> schema (``schema``: structure and types, one line per error; every default filled)
    -> tuning (``tuning``: each tuned loss becomes one loss per point of its grid)
    -> checks (``checks``: names, options, scales, cross-key rules, files on disk)
    -> ``Study`` (``grid``: the runs, their specs, what each job's identity is made of).
"""

from __future__ import annotations

from pathlib import Path

from srloss import tuning
from srloss.errors import ConfigError
from srloss.study.checks import BASELINE_LOSS, check_config, check_dataset_files, is_test_set, run_length
from srloss.study.grid import EXECUTION_ONLY, Run, Study, result_config, to_json
from srloss.study.loading import StudyLoader, exit_on_config_error, load_yaml, loss_training, read_config
from srloss.study.schema import SCHEMA_PATH, check_schema, schema_message

__all__ = [
    "BASELINE_LOSS",
    "EXECUTION_ONLY",
    "ConfigError",
    "Run",
    "Study",
    "StudyLoader",
    "check_config",
    "check_dataset_files",
    "check_schema",
    "exit_on_config_error",
    "is_test_set",
    "load_study",
    "load_yaml",
    "loss_training",
    "read_config",
    "result_config",
    "run_length",
    "schema_message",
    "to_json",
]


def load_study(
    configfiles: list[str | Path] | str | Path,
    overrides: list[str] | str | None = None,
    cache_dir: str | Path | None = None,
    schema: str | Path = SCHEMA_PATH,
) -> Study:
    """The study described by ``configfiles`` (merged in order) and ``--config`` ``overrides``
    (``key=value`` strings), checked completely; ``ConfigError`` naming the file or key otherwise.

    ``cache_dir``: remember that this exact config passed the checks with these sources, so the
    next parse (every dry run, every cluster job) needs neither torch nor the checks again.
    ``schema``: the workflow's schema file (the Snakefile passes its own).
    """
    if isinstance(configfiles, (str, Path)):
        configfiles = [configfiles]
    config = read_config(list(configfiles), overrides)
    check_schema(config, schema)
    return Study(tuning.expand(config), cache_dir=cache_dir)  # a tuned loss becomes its grid points
