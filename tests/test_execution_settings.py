"""Execution settings never rerun a job; result settings do (the real snakemake CLI, dry runs).

The tiny study of test_reruns runs once for real; each variant config is then dry-run.
"""

import pytest
from test_reruns import STUDY, TRAINED, dry_run, study, variant  # noqa: F401 - study is a fixture

from srloss.training.settings import EXECUTION_KEYS

EXECUTION_CHANGES = {
    "threads": 2,
    "device": "cpu",
    "checkpoint_every": 7,
    "keep_checkpoint": True,
    "log_every": 3,
    "tensorboard": True,
}


def test_every_execution_setting_is_covered():
    assert set(EXECUTION_CHANGES) == set(EXECUTION_KEYS)


@pytest.mark.integration
@pytest.mark.parametrize("key", list(EXECUTION_CHANGES))
def test_changing_an_execution_setting_plans_nothing(study, key):  # noqa: F811
    assert STUDY["training"].get(key) != EXECUTION_CHANGES[key]
    assert dry_run(study, variant(training={**STUDY["training"], key: EXECUTION_CHANGES[key]})) == set()


@pytest.mark.integration
def test_changing_the_learning_rate_reruns_training_evaluation_and_aggregation(study):  # noqa: F811
    assert dry_run(study, variant(training={**STUDY["training"], "lr": 1e-3})) == TRAINED | {"aggregate", "all"}


@pytest.mark.integration
def test_turning_compile_on_reruns_training(study):  # noqa: F811
    """compile changes floating-point results, so it counts as a result setting."""
    assert dry_run(study, variant(training={**STUDY["training"], "compile": True})) == TRAINED | {"aggregate", "all"}


@pytest.mark.integration
@pytest.mark.parametrize("change", [{"tile": 16}, {"max_batch_pixels": 4096}, {"batch_size": 1}, {"device": "cpu"}])
def test_changing_an_evaluation_execution_setting_plans_nothing(study, change):  # noqa: F811
    assert dry_run(study, variant(evaluation=change)) == set()
