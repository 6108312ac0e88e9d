"""The study: a config file read, checked and turned into the grid of runs and each job's spec.

``loading`` reads YAML strictly and merges files and ``--config`` overrides; ``schema`` checks
structure and types with one-line errors; ``checks`` checks what the schema cannot know (names,
options, scales, files); ``grid`` is the ``Study``: its runs and their specs.
"""

from srloss.errors import ConfigError
from srloss.study.checks import BASELINE_LOSS, check_config, check_dataset_files, is_test_set, run_length
from srloss.study.grid import EXECUTION_ONLY, Run, Study, result_config, to_json
from srloss.study.loading import StudyLoader, exit_on_config_error, load_yaml, loss_training, reread_config
from srloss.study.schema import check_schema, schema_message

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
    "load_yaml",
    "loss_training",
    "reread_config",
    "result_config",
    "run_length",
    "schema_message",
    "to_json",
]
