"""Only invalidated results rerun: after each kind of change, the real Snakemake dry run plans
exactly the jobs that change invalidates (config edits reach rules as JSON params; library edits
through the per-stage source hash of srloss.codehash)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from srloss import codehash
from srloss.codehash import STAGES, CodeCache, job_code, stage_hash, stage_hashes, stage_modules

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent

STUDY = {
    "study": "rr",
    "datasets": {
        "photos": {
            "source": "skimage",
            "splits": {"train": ["chelsea"], "val": ["coffee"], "test": ["astronaut"]},
            "patch_size": 16,
            "stride": 64,
        }
    },
    "models": {"espcn": {"arch": "espcn", "options": {"channels": 8, "hidden": 4}}},
    "losses": {"mse": {"terms": [{"name": "mse"}]}, "l1": {"terms": [{"name": "l1"}]}},
    "scales": [2],
    "seeds": [0],
    "training": {"steps": 2, "batch_size": 2, "val_every": 2, "threads": 1},
}
RUN = "photos/{model}/{loss}/x{scale}/seed0"
TRAINED = {
    f"{rule}/" + RUN.format(model="espcn", loss=loss, scale=2)
    for rule in ("train", "evaluate")
    for loss in ("mse", "l1")
}
BASELINE_EVAL = "evaluate/" + RUN.format(model="bicubic", loss="none", scale=2)
PREPARE_X2 = {f"prepare/photos/x2/{split}" for split in ("train", "val", "test")}  # one job per split
EVERYTHING = TRAINED | {BASELINE_EVAL, "aggregate", "all"} | PREPARE_X2


def snakemake(workdir: Path, src: Path, configfile: str, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}", "PYTHONPATH": str(src)}
    return subprocess.run(
        [str(BIN / "snakemake"), "-s", str(REPO / "Snakefile"), "--configfile", configfile, *args],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def planned_jobs(output: str) -> set[str]:
    """Jobs of a `snakemake -n` listing, each named by its log path below results/rr/logs/."""
    jobs = set()
    for block in re.split(r"\n(?=\[[^\]]+\]\n(?:local)?rule )", output):
        m = re.search(r"^(?:local)?rule (\w+):", block, re.M)
        if not m:
            continue
        log = re.search(r"^\s+log: results/rr/logs/(\S+)\.log$", block, re.M)
        jobs.add(log.group(1) if log else m.group(1))
    return jobs


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    """The tiny study run once for real, and a private copy of the srloss sources to edit."""
    root = tmp_path_factory.mktemp("reruns")
    src = root / "src"
    shutil.copytree(REPO / "src/srloss", src / "srloss", ignore=shutil.ignore_patterns("__pycache__"))
    work = root / "work"
    work.mkdir()
    (work / "study.yaml").write_text(yaml.safe_dump(STUDY))
    result = snakemake(work, src, "study.yaml", "--cores", "2")
    assert result.returncode == 0, result.stderr[-3000:]
    return work, src


def dry_run(study, config: dict | None = None, edit: str | None = None) -> set[str]:
    work, src = study
    if config is not None:
        (work / "variant.yaml").write_text(yaml.safe_dump(config))
    if edit is not None:  # edit a library module in a copy of the sources
        edited = work.parent / f"src-{edit.replace('/', '-')}"
        shutil.rmtree(edited, ignore_errors=True)
        shutil.copytree(src, edited)
        with open(edited / "srloss" / edit, "a") as f:
            f.write("\n_EDITED = True  # new code (a comment or docstring alone reruns nothing)\n")
        src = edited
    result = snakemake(work, src, "variant.yaml" if config is not None else "study.yaml", "-n")
    assert result.returncode == 0, result.stderr[-3000:]
    jobs = planned_jobs(result.stdout)
    stats = re.search(r"^total\s+(\d+)$", result.stdout, re.M)
    assert (int(stats.group(1)) if stats else 0) == len(jobs), result.stdout  # the listing matches the job stats
    return jobs


def loss_jobs(loss: str) -> set[str]:
    """The jobs one loss of the study reruns: its training and evaluation, then aggregation."""
    return {f"{rule}/" + RUN.format(model="espcn", loss=loss, scale=2) for rule in ("train", "evaluate")} | {
        "aggregate",
        "all",
    }


def variant(**changes) -> dict:
    config = yaml.safe_load(yaml.safe_dump(STUDY))
    for key, value in changes.items():
        config[key] = value
    return config


@pytest.mark.integration
def test_nothing_changed_plans_nothing(study):
    assert dry_run(study) == set()
    assert dry_run(study, variant()) == set()  # same config in another file: same params


@pytest.mark.integration
def test_editing_a_loss_weight_reruns_that_loss_only(study):
    losses = {**STUDY["losses"], "l1": {"terms": [{"name": "l1", "weight": 0.5}]}}
    assert dry_run(study, variant(losses=losses)) == loss_jobs("l1")


@pytest.mark.integration
def test_a_per_loss_training_override_reruns_that_loss_only(study):
    losses = {**STUDY["losses"], "l1": {"terms": [{"name": "l1"}], "training": {"lr": 5e-4}}}
    assert dry_run(study, variant(losses=losses)) == loss_jobs("l1")


@pytest.mark.integration
def test_adding_a_loss_adds_only_its_jobs(study):
    losses = {**STUDY["losses"], "charb": {"terms": [{"name": "charbonnier", "eps": 1e-3}]}}
    assert dry_run(study, variant(losses=losses)) == loss_jobs("charb")


@pytest.mark.integration
def test_adding_a_scale_adds_only_its_jobs(study):
    new = {
        f"{rule}/" + RUN.format(model="espcn", loss=loss, scale=4)
        for rule in ("train", "evaluate")
        for loss in ("mse", "l1")
    }
    assert dry_run(study, variant(scales=[2, 4])) == new | {
        f"prepare/photos/x4/{split}" for split in ("train", "val", "test")
    } | {"evaluate/" + RUN.format(model="bicubic", loss="none", scale=4), "aggregate", "all"}


@pytest.mark.integration
def test_renaming_a_loss_trains_it_again_under_the_new_name(study):
    losses = {"mse": STUDY["losses"]["mse"], "l1_renamed": STUDY["losses"]["l1"]}
    assert dry_run(study, variant(losses=losses)) == loss_jobs("l1_renamed")


@pytest.mark.integration
def test_a_model_option_reruns_that_model_only(study):
    models = {"espcn": {"arch": "espcn", "options": {"channels": 8, "hidden": 6}}}
    assert dry_run(study, variant(models=models)) == TRAINED | {"aggregate", "all"}  # not the baseline


@pytest.mark.integration
def test_a_training_setting_reruns_every_training(study):
    assert dry_run(study, variant(training={**STUDY["training"], "lr": 5e-4})) == TRAINED | {"aggregate", "all"}


@pytest.mark.integration
def test_budget_steps_rerun_training_and_add_the_budget_jobs(study):
    steps = {f"evaluate_step/{RUN.format(model='espcn', loss=loss, scale=2)}/step2" for loss in ("mse", "l1")}
    config = variant(evaluation={"steps": [2]})
    assert dry_run(study, config) == TRAINED | steps | {"budget", "aggregate", "all"}


@pytest.mark.integration
def test_best_weights_rerun_only_the_trained_evaluations(study):
    evaluations = {j for j in TRAINED if j.startswith("evaluate/")}
    assert dry_run(study, variant(evaluation={"weights": "best"})) == evaluations | {"aggregate", "all"}


@pytest.mark.integration
@pytest.mark.parametrize(
    "module, expected",
    [
        ("report/tables.py", {"aggregate", "all"}),  # aggregation, table and figure code
        ("evaluation/measure.py", {j for j in EVERYTHING if j.startswith("evaluate/")} | {"aggregate", "all"}),
        ("losses/pixel.py", TRAINED | {"aggregate", "all"}),  # training only; the baseline's evaluation stays
        ("data/degrade.py", EVERYTHING),  # every stage imports it
        ("losses/regularizers.py", set()),  # the TV term's module: no loss of this study has one
        ("training/loop.py", TRAINED | {"aggregate", "all"}),
        ("models/espcn.py", TRAINED | {"aggregate", "all"}),  # the baseline (bicubic) stays
        ("models/srcnn.py", set()),  # a model this study does not train
        ("metrics/ssim.py", TRAINED | {BASELINE_EVAL, "aggregate", "all"}),  # validation and evaluation
        ("data/sources/packaged.py", EVERYTHING),  # the study's source (skimage)
        ("data/sources/div2k.py", set()),  # a source the study does not use
        ("cli.py", set()),
        ("gpu.py", TRAINED | {BASELINE_EVAL, "aggregate", "all"}),
    ],
)
def test_editing_a_library_module_reruns_the_stages_that_import_it(study, module, expected):
    assert dry_run(study, edit=module) == expected


def test_stage_modules_follow_imports():
    metrics = {
        "srloss.metrics",
        *(f"srloss.metrics.{m}" for m in ("base", "psnr", "mse", "ssim", "sharpness", "perceptual", "faces")),
        "srloss.registry",  # the metric registry
        "srloss.options",  # the metrics' declared options
        "srloss.ops",
        "srloss.ops.image",
        "srloss.ops.kernels",
        "srloss.ops.resize",
        "srloss.weights",
    }
    assert set(stage_modules(STAGES["aggregate"])) == {
        "srloss",
        "srloss.report",
        "srloss.report.figures",
        "srloss.report.landing",
        "srloss.report.load",
        "srloss.report.tables",
        "srloss.weights",  # the random-backbone label
        "srloss.provenance",
        "srloss.atomic",
        "srloss.report.aggregate",
        "srloss.report.paths",
        "srloss.report.stats",
        "srloss.report.selection",  # the tuned losses' selection
        "srloss.tuning",  # what a grid point is (pure: no registry)
        "srloss.errors",
        "srloss.evaluation",
        "srloss.evaluation.settings",  # evaluation.figures' settings (FigureSettings)
        *metrics,
    }
    train = stage_modules(STAGES["train"])
    assert {
        "srloss.training.loop",
        "srloss.losses",
        "srloss.losses.pixel",
        "srloss.models.espcn",
        "srloss.metrics",
    } <= set(train)
    assert "srloss.report" not in train and "srloss.cli" not in train


def test_stage_hash_changes_with_the_sources_only(tmp_path):
    shutil.copytree(REPO / "src/srloss", tmp_path / "srloss", ignore=shutil.ignore_patterns("__pycache__"))
    before = stage_hashes(tmp_path / "srloss")
    assert before == stage_hashes(REPO / "src/srloss")  # independent of where the code lives
    with open(tmp_path / "srloss/metrics/ssim.py", "a") as f:
        f.write("\n# a comment\n")  # not code
    stage_hashes.cache_clear()
    assert stage_hashes(tmp_path / "srloss") == before
    with open(tmp_path / "srloss/metrics/ssim.py", "a") as f:
        f.write("\n_EDITED = True\n")
    stage_hashes.cache_clear()
    after = stage_hashes(tmp_path / "srloss")
    assert {s for s in STAGES if before[s] != after[s]} == {"train", "evaluate", "aggregate", "budget"}


def test_a_job_code_follows_the_members_it_uses(tmp_path):
    """A job's code is its stage's modules plus its own registry members': editing the TV term's
    module changes the code of a training with a TV term only, never an evaluation's."""
    root = tmp_path / "srloss"
    shutil.copytree(REPO / "src/srloss", root, ignore=shutil.ignore_patterns("__pycache__"))
    pixel, tv = ("srloss.losses.pixel",), ("srloss.losses.pixel", "srloss.losses.regularizers")

    def codes():
        job_code.cache_clear()
        return job_code("train", pixel, root), job_code("train", tv, root), job_code("evaluate", pixel, root)

    before = codes()
    assert len(set(before)) == 3
    with open(root / "losses/regularizers.py", "a") as f:
        f.write("\n_EDITED = True\n")
    after = codes()
    assert [b == a for b, a in zip(before, after)] == [True, False, True]


def test_the_code_cache_keeps_hashes_only_while_the_sources_are_unchanged(tmp_path, monkeypatch):
    """A parse takes the hashes from .snakemake/srloss/codehash.json without parsing the sources
    while no source file changed; after an edit it computes them again."""
    root = tmp_path / "srloss"
    shutil.copytree(REPO / "src/srloss", root, ignore=shutil.ignore_patterns("__pycache__"))
    path = tmp_path / "codehash.json"
    entry = STAGES["train"]
    fresh = stage_hash(entry, root)
    first = CodeCache(path)
    assert stage_hash(entry, root, first) == fresh
    first.save()
    with monkeypatch.context() as m:
        m.setattr(codehash, "_hash", lambda sources: pytest.fail("parsed the sources again"))
        assert stage_hash(entry, root, CodeCache(path)) == fresh
    with open(root / "losses/pixel.py", "a") as f:
        f.write("\n_EDITED = True\n")
    edited = stage_hash(entry, root)
    assert edited != fresh
    assert stage_hash(entry, root, CodeCache(path)) == edited


def test_every_row_of_the_rerun_table_names_tests_that_exist():
    """docs/cluster.md's rerun table: each row names the tests that check it (file::test[param])."""
    text = (REPO / "docs/cluster.md").read_text()
    table = text[text.index("| change | reruns | checked by") :].split("\n\n")[0].splitlines()[2:]
    assert len(table) >= 15
    for row in table:
        change, _, checked = [cell.strip() for cell in row.strip("|").split(" | ")]
        names = re.findall(r"`([\w.]+)::(\w+)(?:\[([^\]]+)\])?`", checked)
        assert names, f"rerun table: no test named for {change!r}"
        for file, test, param in names:
            source = (REPO / "tests" / file).read_text()
            assert re.search(rf"^def {test}\(", source, re.M), f"rerun table, {change!r}: {file}::{test} not found"
            assert param is None or param == "" or f'("{param}",' in source, f"{change!r}: no case {param} in {test}"
