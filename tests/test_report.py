"""Tables, figures and the Snakemake report built from per-image metrics."""

import json
import math
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from report_runner import aggregate_into
from workflow_runner import run_snakemake

from srloss.report import aggregate as report

REPO = Path(__file__).resolve().parents[1]
PNG = b"\x89PNG\r\n\x1a\n"
IMAGES = [f"img{i}" for i in range(6)]


def _write_run(
    root: Path, model: str, loss: str, seed: int, psnr_offset: float, lpips_note: str, status: str = "completed"
) -> Path:
    run = root / f"runs/d/{model}/{loss}/x2/seed{seed}"
    run.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    rows = [
        {
            "study": "s",
            "dataset": "d",
            "model": model,
            "loss": loss,
            "scale": 2,
            "seed": seed,
            "image": img,
            "status": "baseline" if loss == "none" else status,
            "psnr_rgb": 28 + i + psnr_offset,
            "psnr_y": 30 + i + psnr_offset + 0.01 * rng.random(),
            "ssim_y": 0.8 + 0.01 * i + psnr_offset / 100,
            "mse": 50 - i - psnr_offset,
            "sharpness_diff": 0.3 - psnr_offset / 10,
            "lpips_alex": math.nan,
            "missing": lpips_note,
        }
        for i, img in enumerate(IMAGES)
    ]
    pd.DataFrame(rows).to_csv(run / "metrics.csv", index=False)
    crops = {}
    for img in IMAGES[:2]:
        crops[f"sr__{img}"] = np.full((3, 16, 16), int(100 + 20 * psnr_offset), np.uint8)
        crops[f"hr__{img}"] = np.full((3, 16, 16), 200, np.uint8)
        crops[f"box__{img}"] = np.array([0, 0, 16])
    np.savez(run / "crops.npz", **crops)
    if loss != "none":
        steps = np.arange(1, 41)
        pd.DataFrame(
            {
                "step": steps,
                "loss": 1 / steps,
                loss: 1 / steps,
                "val_psnr_y": [30 + s / 10 if s % 10 == 0 else "" for s in steps],
            }
        ).to_csv(run / "history.csv", index=False)
    return run / "metrics.csv"


@pytest.fixture(scope="module")
def aggregated(tmp_path_factory):
    root = tmp_path_factory.mktemp("study")
    note = json.dumps(
        {
            "lpips_alex": "LPIPS-alex: ImageNet backbone weights not cached at "
            "/nowhere/alexnet-owt-7be5be79.pth (no download is attempted; put it there)"
        }
    )
    paths = [_write_run(root, "bicubic", "none", 0, 0.0, note)]
    for seed in (0, 1):
        paths += [_write_run(root, "espcn", "mse", seed, 1.0, note), _write_run(root, "espcn", "l1", seed, 0.5, note)]
    return aggregate_into(root, paths)


def test_results_table_marks_the_best_loss(aggregated):
    md = (aggregated / f"{report.table_stem('d', 'espcn', 2)}.md").read_text()
    rows = {line.split(" | ")[0].strip("| "): line for line in md.splitlines() if line.startswith("| ")}
    assert "PSNR Y ↑" in rows["Loss"] and "Sharpness diff →0" in rows["Loss"]  # short headers ...
    assert "PSNR Y: PSNR Y (dB, BT.601, border=scale)" in md and "+=blurrier" in md  # ... spelled out above
    # mse is better than l1 on all 6 images: bold; its exact p = 2/64 < 0.05, but the table's claims
    # are many (every metric of every view) and Holm's adjustment lifts that p above 0.05: no †
    assert "**33.50 [" in rows["mse"] and "†" not in rows["mse"] and "**" not in rows["l1"]
    best = pd.read_csv(aggregated / "tables/best.csv").set_index(["model", "metric"]).loc[("espcn", "psnr_y")]
    tested = pd.read_csv(aggregated / "tables/best.csv")["p_value"].notna().sum()
    assert best["p_value"] == pytest.approx(2 / 64) and best["p_holm"] > 0.05 and not best["significant"]
    assert 2 / 64 < best["p_holm"] <= min(1.0, tested * 2 / 64)
    assert "bicubic (baseline)" in rows and "**" not in rows["bicubic (baseline)"]
    assert (
        "missing" in rows["mse"]
        and "not cached at .../alexnet-owt-7be5be79.pth (no download is attempted; put it there)" in md
        and "/nowhere" not in md  # no machine's folders in a published table (eval.json keeps them)
    )
    verdict = (aggregated / "tables/verdict.md").read_text()
    assert (
        "- LPIPS AlexNet (RGB in [-1,1], border=scale): not measured: LPIPS-alex: ImageNet backbone weights "
        "not cached at .../alexnet-owt-7be5be79.pth" in verdict
    )
    tex = (aggregated / f"{report.table_stem('d', 'espcn', 2)}.tex").read_text()
    assert r"\toprule" in tex and r"\bottomrule" in tex and r"\textbf{33.50 [31.54, 35.47]}" in tex
    csv = pd.read_csv(aggregated / f"{report.table_stem('d', 'espcn', 2)}.csv").set_index("loss")
    assert csv.loc["mse", "n_seeds"] == 2 and csv.loc["mse", "psnr_y"] == pytest.approx(33.5, abs=0.02)


def _aggregate_runs(root: Path, runs: list[tuple]) -> Path:
    """Aggregate (model, loss, seed, offset, status) runs beside a bicubic baseline at offset 0."""
    paths = [_write_run(root, "bicubic", "none", 0, 0.0, "")]
    paths += [_write_run(root, model, loss, seed, off, "", status) for model, loss, seed, off, status in runs]
    return aggregate_into(root, paths)


def test_unhealthy_runs_are_never_bold_or_best_and_status_reaches_every_table(tmp_path):
    # "gan" has the best numbers but diverged; "l1" is the best healthy run.
    runs = [("espcn", "gan", s, 3.0, "diverged") for s in (0, 1)]
    runs += [("espcn", "l1", s, 1.0, "completed") for s in (0, 1)]
    runs += [("espcn", "mse", s, 0.5, "stalled") for s in (0, 1)]
    root = _aggregate_runs(tmp_path, runs)
    best = pd.read_csv(root / "tables/best.csv").set_index("metric")
    assert best.loc["psnr_y", "best"] == "l1" and set(best["best"]) == {"l1"}
    stem = root / report.table_stem("d", "espcn", 2)
    md = stem.with_suffix(".md").read_text()
    rows = {line.split(" | ")[0].strip("| "): line for line in md.splitlines() if line.startswith("| ")}
    assert "**" not in rows["gan"] and "**" not in rows["mse"] and "**" in rows["l1"]
    assert rows["gan"].rstrip(" |").endswith("diverged") and rows["mse"].rstrip(" |").endswith("stalled")
    assert "Status" in rows["Loss"] and "never ranked" in md
    tex = stem.with_suffix(".tex").read_text()
    tex_rows = {line.split(" & ")[0]: line for line in tex.splitlines() if " & " in line}
    assert tex_rows["gan"].endswith(r"diverged \\") and r"\textbf" not in tex_rows["gan"]
    assert r"\textbf" in tex_rows["l1"] and "Status" in tex_rows["Loss"]
    csv = pd.read_csv(stem.with_suffix(".csv")).set_index("loss")
    assert csv.loc["gan", "status"] == "diverged" and csv.loc["l1", "status"] == "completed"
    assert set(pd.read_csv(root / "tables/paired.csv")["loss"]) == {"l1"}  # only healthy runs are compared


def test_paired_table_compares_each_loss_with_the_baseline_image_by_image(aggregated):
    from scipy import stats as sps

    paired = pd.read_csv(aggregated / "tables/paired.csv")
    assert set(paired["reference"]) == {"baseline"} and set(paired["loss"]) == {"mse", "l1"}
    per_image = pd.read_csv(aggregated / "tables/per_image.csv")
    means = per_image[per_image["scale"] == 2].groupby(["loss", "image"])["psnr_y"].mean().unstack("loss")
    row = paired[(paired["loss"] == "mse") & (paired["metric"] == "psnr_y")].iloc[0]
    assert row["n"] == 6 and row["mean_diff"] == pytest.approx((means["mse"] - means["none"]).mean())
    assert row["p_value"] == pytest.approx(sps.ttest_rel(means["mse"], means["none"]).pvalue)
    assert row["ci_low"] > 0.9 and row["ci_high"] < 1.1 and bool(row["better"])
    assert (paired["p_holm"] >= paired["p_value"]).all()


def test_best_loss_worse_than_baseline_is_marked(tmp_path):
    root = _aggregate_runs(tmp_path, [("espcn", "l1", s, -1.0, "completed") for s in (0, 1)])
    md = (root / f"{report.table_stem('d', 'espcn', 2)}.md").read_text()
    rows = {line.split(" | ")[0].strip("| "): line for line in md.splitlines() if line.startswith("| ")}
    assert "‡" in rows["l1"] and "‡" not in rows["bicubic (baseline)"] and "worse than the baseline" in md
    tex = (root / f"{report.table_stem('d', 'espcn', 2)}.tex").read_text()
    assert r"$^\ddagger$" in tex and "‡" not in tex


def test_statistics_tables(aggregated):
    best = pd.read_csv(aggregated / "tables/best.csv").set_index("metric")
    assert best.loc["psnr_y", "best"] == "mse" and best.loc["psnr_y", "runner_up"] == "l1"
    assert best.loc["psnr_y", "p_value"] == pytest.approx(2 / 64)  # 6 images, all in mse's favour
    assert best.loc["psnr_y", "p_holm"] > 0.05 and not bool(best.loc["psnr_y", "significant"])  # one claim of many
    assert best.loc["sharpness_diff", "best"] == "mse"  # 0.2 is closer to zero than 0.25
    assert "lpips_alex" not in best.index  # nothing to rank
    tidy = pd.read_csv(aggregated / "tables/per_image_long.csv")
    assert set(tidy.columns) >= {"model", "loss", "seed", "image", "metric", "value"}
    assert len(tidy) == 5 * 6 * 5  # runs x images x metrics with values (LPIPS missing)
    stats = pd.read_csv(aggregated / "tables/summary_stats.csv")
    mse_rows = stats[(stats["loss"] == "mse") & (stats["metric"] != "lpips_alex")]
    assert len(mse_rows) == 5 and (mse_rows["n_seeds"] == 2).all() and (mse_rows["n_images"] == 6).all()


def test_figures_are_written_as_png_and_pdf(aggregated):
    for stem in [
        report.metrics_figure_stem("d", "espcn"),
        report.grid_stem("d", "espcn", 2),
        report.PD_STEM,
        report.CURVES_STEM,
    ]:
        assert (aggregated / f"{stem}.png").read_bytes()[:8] == PNG
        assert (aggregated / f"{stem}.pdf").read_bytes()[:5] == b"%PDF-"


# The stage as the rule runs it, in a process where importing torch fails: its memory is the
# tables' and figures', not torch's (bench/bench_aggregate.py; srloss.metrics.base's docstring).
NO_TORCH = """
import runpy, sys

class NoTorch:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("torch", "torchvision", "lpips"):
            raise ImportError(f"the report stage imported {name}")

sys.meta_path.insert(0, NoTorch())
"""
RUN_CLI = 'sys.argv = ["srloss", *sys.argv[1:]]; runpy.run_module("srloss", run_name="__main__")'


def test_the_aggregate_stage_runs_without_torch(tmp_path):
    paths = [_write_run(tmp_path, "bicubic", "none", 0, 0.0, "")]
    paths += [
        _write_run(tmp_path, "espcn", loss, seed, off, "")
        for loss, off in (("mse", 1.0), ("l1", 0.5))
        for seed in (0, 1)
    ]
    config = {"study": "s", "evaluation": {"alpha": 0.05, "figures": {}}}
    tables = tmp_path / "tables"
    outputs = ["--per-image", tables / "per_image.csv", "--summary-csv", tables / "summary.csv"]
    outputs += ["--summary-md", tables / "summary.md", "--figure", tmp_path / "figures/psnr_ssim.png"]
    outputs += ["--provenance", tables / "provenance.json", "--root", tmp_path]
    cmd = [
        sys.executable,
        "-c",
        NO_TORCH + RUN_CLI,
        "aggregate",
        "--config",
        json.dumps(config),
        "--metrics",
        *paths,
        *outputs,
    ]
    proc = subprocess.run([str(c) for c in cmd], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (tables / "best.csv").is_file() and (tmp_path / f"{report.metrics_figure_stem('d', 'espcn')}.png").is_file()
    budget = subprocess.run([sys.executable, "-c", NO_TORCH + "import srloss.report.budget"], capture_output=True)
    assert budget.returncode == 0, budget.stderr  # the budget stage's modules load no torch either


# --- end to end: snakemake, then snakemake --report, then (if available) headless Chromium -------

TINY = {
    "study": "tiny",
    "datasets": {
        "faces": {
            "source": "skimage",
            "splits": {"train": ["rocket"], "val": ["coffee"], "test": ["astronaut", "chelsea"]},
            "patch_size": 32,
            "stride": 32,
        }
    },
    "models": {"espcn": {"arch": "espcn", "options": {"residual": True}}},
    "losses": {"mse": {"terms": [{"name": "mse"}]}, "l1": {"terms": [{"name": "l1"}]}},
    "scales": [2],
    "training": {"steps": 20, "batch_size": 8, "lr": 1e-3, "val_every": 10},
    "evaluation": {
        "lpips": {"nets": ["alex"], "random_backbone": True},
        "ffr": {"datasets": ["faces"]},
        "crops": {"images": 2, "size": 64},
    },
}


@pytest.fixture(scope="module")
def tiny_report(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("report")
    (workdir / "study.yaml").write_text(yaml.safe_dump(TINY))
    result = run_snakemake(workdir, "--cores", "2")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    result = run_snakemake(workdir, "--report", "results/tiny/report.html")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return workdir


@pytest.mark.integration
def test_report_builds_with_every_figure(tiny_report):
    root = tiny_report / "results/tiny"
    html = (root / "report.html").read_text()
    for name in [
        "metrics_espcn.png",
        "perception_distortion.png",
        "training_curves.png",
        "grid_espcn_x2.png",
        "espcn_x2.csv",
        "best.csv",
    ]:
        assert name in html
    assert "Blau and Michaeli" in html and "highest mean Sobel gradient" in html  # captions
    assert html.count("data:image/png;base64") >= 4 or html.count("iVBORw0KGgo") >= 4  # figures embedded
    per_image = pd.read_csv(root / "tables/per_image.csv").set_index(["loss", "image"])
    assert per_image.loc[("none", "astronaut"), "gt_face"] == 1 and per_image.loc[("none", "astronaut"), "ffr"] == 0
    assert per_image.loc[("none", "chelsea"), "gt_face"] == 0 and math.isnan(per_image.loc[("none", "chelsea"), "ffr"])
    assert per_image["lpips_alex_random_backbone"].notna().all()
    record = json.loads((root / "runs/faces/espcn/mse/x2/seed0/eval.json").read_text())
    assert record["status"] == "completed" and record["evaluation"]["ffr"]["enabled"]
    md = (root / f"{report.table_stem('faces', 'espcn', 2)}.md").read_text()
    baseline = next(line for line in md.splitlines() if line.startswith("| bicubic (baseline)"))
    assert "0.000 (0/1)" in baseline  # FFR: rate (failures/faces); chelsea (a cat) is excluded
    assert "1 test image(s) without a detectable face in the ground truth are excluded" in md


@pytest.mark.integration
@pytest.mark.skipif(
    shutil.which("chromium") is None, reason="headless Chromium not installed (apt-get install chromium)"
)
def test_report_renders_in_headless_chromium(tiny_report, tmp_path):
    shot = tmp_path / "report.png"
    html = tiny_report / "results/tiny/report.html"
    subprocess.run(
        [
            "chromium",
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--window-size=1200,900",
            "--virtual-time-budget=8000",
            f"--screenshot={shot}",
            html.as_uri(),
        ],
        capture_output=True,
        timeout=120,
        check=True,
    )
    dom = subprocess.run(
        [
            "chromium",
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--virtual-time-budget=8000",
            "--dump-dom",
            html.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    assert shot.read_bytes()[:8] == PNG and shot.stat().st_size > 20_000  # not a blank page
    assert "1. Tables" in dom and "2. Figures" in dom  # the app rendered its categories


CHROMIUM_FLAGS = [  # no sandbox as root; none of Chromium's own network traffic (the machine is offline)
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

# Every PNG result of the report, shown as its "view" button shows it; per figure: its natural
# size, its displayed box, the scroll box it sits in, and that box scrolled to its far corner.
FIGURE_BOXES = """() => Object.entries(results)
    .filter(([path, entry]) => path.endsWith('.png'))
    .map(([path, entry]) => path)"""
SHOW_FIGURE = """async (path) => {
    app.setView({content: 'img', contentPath: results[path].data_uri, resultPath: path});
    await new Promise(r => setTimeout(r, 300));
    const img = document.querySelector('#app div.h-screen.overflow-auto img');
    await img.decode();
    const box = img.closest('div.h-screen.overflow-auto');
    box.scrollTo(0, 0);
    const first = img.getBoundingClientRect(), pane = box.getBoundingClientRect();
    box.scrollTo(box.scrollWidth, box.scrollHeight);
    const last = img.getBoundingClientRect();
    return {natural: [img.naturalWidth, img.naturalHeight], shown: [first.width, first.height],
            top: first.top - pane.top, left: first.left - pane.left,
            bottom: pane.bottom - last.bottom, right: pane.right - last.right,
            pane: [box.clientWidth, box.clientHeight]};
}"""


@pytest.mark.integration
def test_report_opens_on_the_verdict_and_every_figure_can_be_seen_whole(tiny_report):
    """In a real browser: the front page is the verdict with its table inline, and each figure,
    shown as the report shows it, has all four edges within reach of the scroll bars."""
    sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright not installed (pip install playwright)")
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.skip("headless Chromium not installed (apt-get install chromium)")
    html = tiny_report / "results/tiny/report.html"
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_FLAGS)
        page = browser.new_page(viewport={"width": 1280, "height": 720})
        page.goto(html.as_uri())
        front = page.locator(".prose").first
        front.wait_for(timeout=60_000)
        text = front.inner_text()
        assert text.lstrip().startswith("Study tiny: which loss is best"), text[:300]
        assert "faces / espcn / x2" in text and "Conventions" in text
        assert front.locator("table").count() >= 1  # the results table, inline
        assert "Loss" in front.locator("table").first.inner_text()
        assert front.bounding_box()["width"] > 700  # not the 32rem column of the plain report
        figures = page.evaluate(FIGURE_BOXES)
        assert any("metrics_espcn" in f for f in figures) and len(figures) >= 5
        for path in figures:
            box = page.evaluate(SHOW_FIGURE, path)
            assert box["shown"][0] <= box["pane"][0] + 1, (path, box)  # never wider than the window
            for edge in ("top", "left", "bottom", "right"):  # each edge reachable: not cut off
                assert box[edge] >= -1, (path, edge, box)
        browser.close()


def test_evaluation_config_defaults_and_checks():
    from srloss.study import ConfigError, Study, check_config, check_schema, load_yaml

    config = load_yaml(REPO / "config.yaml")
    assert config["evaluation"].pop("lpips") == {"nets": ["alex"]}  # the demo keeps the AlexNet trunk only
    check_schema(config)
    spec = Study(config).evaluation_spec("demo")
    assert spec["ffr"] == {"enabled": False, "threshold": 0.6, "min_detection_score": 0.5}  # off for non-face data
    assert spec["lpips"] == {"nets": ["alex", "vgg"], "random_backbone": False}  # the schema's default
    config["evaluation"]["ffr"]["datasets"] = ["demo"]
    assert Study(config).evaluation_spec("demo")["ffr"]["enabled"]
    config["evaluation"]["ffr"]["datasets"] = ["faces"]
    with pytest.raises(ConfigError, match=r"evaluation\.ffr\.datasets: unknown dataset 'faces'; valid choices: demo"):
        check_config(config)


def test_outputs_that_no_longer_belong_to_the_study_are_moved_aside_with_a_note(tmp_path):
    """A study whose model changed from espcn to srcnn: espcn's tables and figures move to stale/."""
    old = [_write_run(tmp_path, "bicubic", "none", 0, 0.0, "")]
    old += [_write_run(tmp_path, "espcn", "mse", seed, 1.0, "") for seed in (0, 1)]
    aggregate_into(tmp_path, old)
    assert (tmp_path / "tables/d/espcn_x2.csv").exists() and not (tmp_path / "stale").exists()
    new = [old[0]] + [_write_run(tmp_path, "srcnn", "mse", seed, 1.0, "") for seed in (0, 1)]
    aggregate_into(tmp_path, new)
    stale = sorted(p.relative_to(tmp_path / "stale").as_posix() for p in (tmp_path / "stale").rglob("*.*"))
    assert "tables/d/espcn_x2.csv" in stale and "figures/d/metrics_espcn.png" in stale
    assert not list(tmp_path.glob("tables/d/espcn_*")) and not list(tmp_path.glob("figures/d/*espcn*"))
    assert (tmp_path / "tables/d/srcnn_x2.csv").exists()
    note = (tmp_path / "stale/README.md").read_text()
    assert "does not produce them" in note and "tables/d/espcn_x2.csv" in note
    aggregate_into(tmp_path, new)  # nothing new is stale: the note is not extended
    assert (tmp_path / "stale/README.md").read_text() == note


def test_markdown_tables_tell_missing_from_not_applicable():
    """An empty cell of a metric that was asked for but not measured reads "missing" (the notes say
    why); one with nothing to measure (no interval from one image) reads "n/a"; never "nan"."""
    from srloss.report.tables import to_markdown

    table = pd.DataFrame(
        {"loss": ["l1", "mse"], "psnr_y": [30.1, 29.9], "psnr_y_ci95": [math.nan, 0.25], "lpips_alex": [math.nan] * 2}
    )
    lines = to_markdown(table, missing={"lpips_alex"}).splitlines()
    assert "nan" not in "\n".join(lines).lower()
    l1, mse = ([c.strip() for c in line.strip("|").split("|")] for line in lines[2:])
    assert l1 == ["l1", "30.1000", "n/a", "missing"] and mse == ["mse", "29.9000", "0.2500", "missing"]
