"""Reliability class "damage": a damaged input costs time, never results.

A tiny `folder` study is run once through the real snakemake CLI; each test damages a copy of the
finished working folder (a truncated shard, a shard edited in place with its timestamp restored,
a rerun that fails) and checks that every finished file survives bitwise, that the damaged shard
is named and prepared again before anything reads it, and that no number comes from damaged data.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

import h5py
import pandas as pd
import pytest
import yaml
from test_reliability_reruns import STUDY, _write_images
from workflow_runner import run_snakemake, test_env

from srloss.data.manifest import verify_shard

SHARDS = "results/rel/data/mine/x2"
RUNS = "results/rel/runs"


@pytest.fixture(scope="module")
def done(tmp_path_factory) -> Path:
    """The study, run to completion once."""
    work = tmp_path_factory.mktemp("damage") / "work"
    work.mkdir()
    _write_images(work / "images")
    result = run_snakemake(work, "--cores", "2", config=STUDY)
    assert result.returncode == 0, result.stderr[-4000:]
    return work


def _copy(done: Path, tmp_path: Path) -> Path:
    work = tmp_path / "copy"
    shutil.copytree(done, work, symlinks=True)
    return work


def _digests(work: Path) -> dict[str, str]:
    """SHA-256 of every file the finished runs left (run folders), by path."""
    return {
        str(p.relative_to(work)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted((work / RUNS).rglob("*"))
        if p.is_file()
    }


def _with_loss(name: str) -> dict:
    config = yaml.safe_load(yaml.safe_dump(STUDY))
    config["losses"][name] = {"terms": [{"name": name}]}
    return config


@pytest.mark.integration
def test_damage_truncated_train_shard_loses_nothing_and_the_new_loss_trains(done, tmp_path):
    """The issue's case: a finished study, `truncate -s 50%` of its train.h5, then a loss added."""
    work = _copy(done, tmp_path)
    before = _digests(work)
    shard = work / SHARDS / "train.h5"
    os.truncate(shard, shard.stat().st_size // 2)

    result = run_snakemake(work, "--cores", "2", config=_with_loss("mse"))

    assert result.returncode == 0, result.stderr[-4000:]
    assert f"{SHARDS}/train.h5: damaged shard" in result.stderr
    assert "prepared again, bitwise as it was" in result.stderr
    after = _digests(work)
    lost = {path for path in before if after.get(path) != before[path]}
    assert lost == set()  # 0 finished files lost or changed
    assert (work / RUNS / "mine/espcn/mse/x2/seed0/model.pt").exists()
    verify_shard(shard)  # intact again
    per_image = pd.read_csv(work / "results/rel/tables/per_image.csv")
    assert set(per_image["loss"]) == {"l1", "mse", "none"}


@pytest.mark.integration
def test_damage_truncated_shard_plans_no_rerun_and_a_dry_run_names_it(done, tmp_path):
    work = _copy(done, tmp_path)
    shard = work / SHARDS / "val.h5"
    os.truncate(shard, 100)
    result = run_snakemake(work, "-n", "--cores", "1", timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"{SHARDS}/val.h5: damaged shard: 100 bytes" in result.stderr
    assert "Nothing to be done" in result.stdout + result.stderr  # the damage's new mtime plans no retraining


@pytest.mark.integration
def test_damage_edited_test_shard_same_size_is_prepared_again_before_the_new_run_reads_it(done, tmp_path):
    """A test.h5 edited in place with h5py, its mtime restored (`touch -r`), then a loss added:
    the new run must not be measured on the edited pixels, the old runs keep their numbers."""
    work = _copy(done, tmp_path)
    before = _digests(work)
    shard = work / SHARDS / "test.h5"
    st = shard.stat()
    with h5py.File(shard, "r+") as f:
        hr = f["images/chelsea/hr"]
        hr[...] = 255 - hr[()]
    os.utime(shard, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert shard.stat().st_size == st.st_size

    result = run_snakemake(work, "--cores", "2", config=_with_loss("mse"))

    assert result.returncode == 0, result.stderr[-4000:]
    assert f"{SHARDS}/test.h5: damaged shard: its content differs" in result.stderr
    assert {p for p in before if _digests(work).get(p) != before[p]} == set()
    # prepared again, bitwise the original, before the first job (the new run's evaluation) started
    assert shard.read_bytes() == (done / SHARDS / "test.h5").read_bytes()
    assert result.stderr.index("prepared again, bitwise as it was") < result.stderr.index("rule train:")
    per_image = pd.read_csv(work / "results/rel/tables/per_image.csv")
    assert set(per_image["loss"]) == {"l1", "mse", "none"}


@pytest.mark.integration
def test_damage_a_failed_rerun_restores_every_finished_file_and_stays_due(done, tmp_path):
    """A rerun (lr changed) whose job fails (no GPU visible for device cuda) leaves the finished run
    as it was, and the next plan still has the run to do: nothing passes for the new config."""
    work = _copy(done, tmp_path)
    before = _digests(work)
    config = yaml.safe_load(yaml.safe_dump(STUDY))
    config["training"].update(lr=3.0e-4, device="cuda")
    env = {**test_env(), "CUDA_VISIBLE_DEVICES": ""}

    result = run_snakemake(work, "--cores", "2", config=config, env=env)

    assert result.returncode != 0
    assert "Restored previous version of results/rel/runs/mine/espcn/l1/x2/seed0/model.pt" in result.stderr
    after = _digests(work)
    changed = {p for p in before if after.get(p) != before[p]}
    assert changed == {f"{RUNS}/mine/espcn/l1/x2/seed0/train.done"}  # the marker of an up-to-date run only
    config["training"]["device"] = "cpu"
    plan = run_snakemake(work, "-n", "--cores", "1", config=config, timeout=300)
    assert "rule train:" in plan.stdout and "Missing output files" in plan.stdout
