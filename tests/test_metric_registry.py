"""The metric registry: a metric is one registered class, and the evaluation, tables and figures
follow it; a study measuring any subset of the metrics gets every output, naming only what it measured."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from report_runner import aggregate_into

from srloss.data.prepare import degrade_pair
from srloss.data.shards import write_images
from srloss.errors import UserError
from srloss.evaluation.measure import DEFAULT_EVALUATION, evaluate
from srloss.metrics import (
    METRICS,
    Column,
    Metric,
    column_catalog,
    default_metrics,
    each_image,
    find_column,
    selected_metrics,
)
from srloss.models.base import build_model
from srloss.registry import RegistryError
from srloss.report import paths

REPO = Path(__file__).resolve().parents[1]
ESPCN = {"channels": 8, "hidden": 4}
LOSSES = ("l1", "charb")  # two trained runs (random weights, one seed each) beside the bicubic baseline


class MeanAbsoluteDifference(Metric):
    """A metric the test adds: nothing else in the project names it."""

    summary = "mean absolute difference of the RGB values (0-255)"
    title = "MAD"
    order = 45
    default = False
    column = Column("mad", "MAD (0-255, RGB, border=scale)", "MAD", "min", bounds=(0.0, math.inf))

    def batch(self, sr: torch.Tensor, hr: torch.Tensor, scale: int) -> dict[str, list[float]]:
        return {"mad": each_image(sr, hr, scale, lambda s, h: float((s.double() - h.double()).abs().mean()))}


@pytest.fixture
def mad():
    with METRICS.registered("mad", MeanAbsoluteDifference):
        yield
    assert "mad" not in METRICS and find_column("mad") is None  # gone for every other test


@pytest.fixture(scope="module")
def shard(tmp_path_factory, astronaut) -> Path:
    images = []
    for name, (top, left) in {"a": (0, 0), "b": (100, 200), "c": (300, 100)}.items():
        hr, lr = degrade_pair(astronaut[top : top + 64, left : left + 64], 2)
        images.append((name, lr.transpose(2, 0, 1).copy(), hr.transpose(2, 0, 1).copy()))
    path = tmp_path_factory.mktemp("shard") / "test.h5"
    write_images(path, images, 2, {"test": True})
    return path


def measure_study(root: Path, shard: Path, metrics: list[str]) -> Path:
    """Evaluate the bicubic baseline and the trained runs in process, then aggregate; the study's folder."""
    evaluation = {**DEFAULT_EVALUATION, "metrics": metrics, "crops": {"images": 2, "size": 32}}
    metric_files = []
    for seed, loss in enumerate(("none", *LOSSES)):
        model = "bicubic" if loss == "none" else "espcn"
        run = root / f"runs/d/{model}/{loss}/x2/seed0"
        run.mkdir(parents=True)
        options = {} if loss == "none" else ESPCN
        spec = {"study": "s", "dataset": "d", "model": model, "arch": model, "model_options": options}
        spec |= {"loss": loss, "scale": 2, "seed": 0}
        checkpoint = None
        if loss != "none":
            torch.manual_seed(seed)
            checkpoint = run / "model.pt"
            torch.save(build_model("espcn", 2, ESPCN).state_dict(), checkpoint)
            record = {"status": "completed", "spec": {"loss": loss, "terms": [{"name": "l1"}]}}
            (run / "run.json").write_text(json.dumps(record))
        evaluate(
            spec,
            checkpoint,
            shard,
            run / "metrics.csv",
            run / "eval.json",
            evaluation=evaluation,
            crops_out=run / "crops.npz",
        )
        metric_files.append(run / "metrics.csv")
    return aggregate_into(root, metric_files)


def expected_outputs(root: Path) -> list[Path]:
    """Every file the aggregation of the study writes (one dataset d, model espcn, scale 2)."""
    files = ["tables/per_image.csv", "tables/summary.csv", "tables/summary.md", "tables/provenance.json"]
    files += ["figures/psnr_ssim.png", *paths.STUDY_TABLES]
    files += [paths.table_stem("d", "espcn", 2) + ext for ext in (".csv", ".md", ".html", ".tex")]
    files += [paths.VERDICT_STEM + ext for ext in (".md", ".html")]
    stems = [paths.metrics_figure_stem("d", "espcn"), paths.paired_figure_stem("d", "espcn")]
    stems += [paths.grid_stem("d", "espcn", 2), paths.PD_STEM, paths.CURVES_STEM]
    files += [stem + ext for stem in stems for ext in (".png", ".pdf")]
    return [root / f for f in files]


def test_a_study_measuring_one_metric_aggregates_and_names_no_other(tmp_path, shard):
    measured = "psnr_y"
    root = measure_study(tmp_path, shard, [measured])
    for path in expected_outputs(root):
        assert path.is_file() and path.stat().st_size > 0, path
    per_image = pd.read_csv(root / "tables/per_image.csv")
    assert per_image[measured].notna().all()
    others = {name: column for name, (_, column) in column_catalog().items() if name != measured}
    for path in (root / "tables").rglob("*"):  # the aggregation's outputs (eval.json records the settings)
        if path.suffix not in (".csv", ".md", ".html", ".tex", ".json"):
            continue
        text = path.read_text()
        for name, column in others.items():
            assert not re.search(rf"\b{name}\b", text) and column.header not in text, (path, name)
    assert set(pd.read_csv(root / "tables/per_image_long.csv")["metric"]) == {measured}


def test_a_registered_metric_reaches_every_table_and_figure(tmp_path, shard, mad):
    root = measure_study(tmp_path, shard, ["psnr_y", "mad"])
    per_image = pd.read_csv(root / "tables/per_image.csv")
    assert list(per_image.columns).index("mad") == list(per_image.columns).index("psnr_y") + 1  # display order
    assert (per_image["mad"] > 0).all()
    summary = pd.read_csv(root / "tables/summary.csv")
    assert {"mad", "mad_ci95"} <= set(summary.columns) and summary["mad"].notna().all()
    stem = root / paths.table_stem("d", "espcn", 2)
    assert pd.read_csv(stem.with_suffix(".csv"))["mad"].notna().all()
    table = stem.with_suffix(".md").read_text()
    assert "| MAD ↓ " in table and "MAD: MAD (0-255, RGB, border=scale)" in table  # header, legend
    assert "mad" in set(pd.read_csv(root / "tables/best.csv")["metric"])
    figure = root / f"{paths.metrics_figure_stem('d', 'espcn')}.png"
    assert figure.is_file() and figure.stat().st_size > 0


def test_registration_names_what_a_metric_lacks():
    class Unnamed(MeanAbsoluteDifference):
        summary = ""

    class NoColumn(MeanAbsoluteDifference):
        column = None

    class NoBatch(Metric):
        summary, title, order = "nothing", "Nothing", 99
        column = Column("nothing", "Nothing", "Nothing", "min")

    class DefaultButUnlisted(MeanAbsoluteDifference):
        listed, default = False, True

    for member, message in [
        (Unnamed, "declares no summary"),
        (NoColumn, "writes no column"),
        (NoBatch, "does not define batch"),
        (DefaultButUnlisted, "it is not listed"),
        (MeanAbsoluteDifference, "registered twice"),
    ]:
        name = "psnr_y" if member is MeanAbsoluteDifference else "throwaway"
        with pytest.raises(RegistryError, match=message):
            with METRICS.registered(name, member):
                pass
        assert "throwaway" not in METRICS
    with pytest.raises(ValueError, match="direction 'up'"):
        Column("x", "X", "X", "up")


def test_the_defaults_and_the_display_order_come_from_the_metrics():
    names = list(METRICS)
    assert names == sorted(names, key=lambda n: METRICS[n].order)
    assert DEFAULT_EVALUATION["metrics"] == default_metrics() == [n for n in names if METRICS[n].default]
    schema = yaml.safe_load((REPO / "workflow/schemas/config.schema.yaml").read_text())
    evaluation = schema["properties"]["evaluation"]["properties"]
    assert evaluation["metrics"]["default"] == default_metrics()  # what the generated schema will say
    for name in names:
        for option in METRICS[name].options:
            assert evaluation[name]["properties"][option.name]["default"] == option.json_schema()["default"]
            assert DEFAULT_EVALUATION[name][option.name] == option.check(option.default)


def test_an_evaluation_names_only_listed_metrics():
    assert [m.name for m in selected_metrics({"metrics": ["ssim_y", "psnr_y"]})] == ["psnr_y", "ssim_y"]
    with pytest.raises(UserError, match="unknown metric 'psnr'"):
        selected_metrics({"metrics": ["psnr"]})
    unlisted = next(n for n in METRICS if not METRICS[n].listed)
    with pytest.raises(UserError, match=f"selected by its own section evaluation.{unlisted}"):
        selected_metrics({"metrics": [unlisted]})


def test_a_missing_metric_is_nan_with_its_reason(monkeypatch):
    from srloss.evaluation.measure import MetricSet
    from srloss.metrics import MetricUnavailable

    def unavailable(self, device, **options):
        raise MetricUnavailable("MAD: not here")

    with METRICS.registered("mad", MeanAbsoluteDifference):
        monkeypatch.setattr(MeanAbsoluteDifference, "__init__", unavailable)
        metric_set = MetricSet({"metrics": ["psnr_y", "mad"]}, torch.device("cpu"))
        img = torch.randint(0, 256, (3, 32, 32), dtype=torch.uint8)
        row = metric_set(img, img, 2)
    assert metric_set.missing == {"mad": "MAD: not here"}
    assert list(row) == ["psnr_y", "mad"] and row["psnr_y"] == math.inf and np.isnan(row["mad"])
