"""The demo's times in README.md and bench/demo-timing.md are written from the measurements
(bench/demo-timing.csv) by bench/readme_numbers.py, never typed: a hand edit or a new measurement
not written through fails here."""

from __future__ import annotations

import csv
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "bench/readme_numbers.py"


def _load():
    spec = importlib.util.spec_from_file_location("readme_numbers", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


numbers = _load()

TIME_LOG = """\tCommand being timed: "make demo CORES=2"
\tUser time (seconds): 100.50
\tSystem time (seconds): 20.25
\tPercent of CPU this job got: 150%
\tElapsed (wall clock) time (h:mm:ss or m:ss): 1:02:03.40
\tMaximum resident set size (kbytes): 1234567
"""
BENCH_HEADER = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"


def _bench(path: Path, *cpu: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(BENCH_HEADER + "".join(f"1.0\t0:00:01\t1\t1\t1\t1\t0\t0\t50\t{c}\n" for c in cpu))


def _run(root: Path, loss: str, seed: int, status: str, steps: int = 300) -> None:
    folder = root / "runs/demo/srcnn" / loss / "x2" / f"seed{seed}"
    folder.mkdir(parents=True)
    record = {"spec": {"loss": loss, "seed": seed}, "status": status, "steps_planned": steps}
    (folder / "run.json").write_text(json.dumps(record))


@pytest.fixture
def results(tmp_path: Path) -> Path:
    """A finished demo's files that the record reads: benchmarks, run.json files, the per-image table."""
    root = tmp_path / "results/demo"
    _bench(root / "benchmarks/prepare/demo/x2/train.tsv", "3.5")
    _bench(root / "benchmarks/prepare/demo/x2/test.tsv", "1.5")
    _bench(root / "benchmarks/train/demo/srcnn/mse/x2/seed0.tsv", "40.2")
    _bench(root / "benchmarks/train/demo/srcnn/mse/x2/seed1.tsv", "NA")  # too short to sample
    _bench(root / "benchmarks/evaluate/demo/srcnn/mse/x2/seed0.tsv", "12.4")
    _bench(root / "benchmarks/aggregate.tsv", "9.6")
    _bench(root / "benchmarks/fetch_weight/alexnet.tsv", "99")  # not a stage of the demo's time
    _run(root, "mse", 0, "completed")
    _run(root, "mse", 1, "stalled: within 0.05 dB of bicubic")
    _run(root, "none", 0, "baseline")
    (root / "tables").mkdir()
    (root / "tables/per_image.csv").write_text("model,loss,seed,image,psnr_y,lpips_alex\nsrcnn,mse,0,a,30.1,0.2\n")
    return root


def test_the_committed_blocks_are_what_the_measurements_give():
    assert numbers.stale() == [], "run `make readme-numbers` (bench/readme_numbers.py write)"
    check = subprocess.run([sys.executable, str(SCRIPT), "check"], capture_output=True, text=True, timeout=120)
    assert check.returncode == 0, check.stdout + check.stderr


def test_a_hand_edited_figure_is_stale_and_write_restores_it(tmp_path):
    readme = tmp_path / "README.md"
    text = (ROOT / "README.md").read_text()
    quiet = numbers.figures(numbers.read_rows(), numbers.demo_steps())["quiet"]
    headline = f"**{numbers.duration(quiet['wall_s'])}**"
    assert headline in text
    readme.write_text(text.replace(headline, "**2 min 0 s**"))
    targets = {readme: "demo-summary"}
    assert numbers.stale(targets) == [readme]
    content = numbers.blocks(numbers.read_rows(), numbers.demo_steps())
    readme.write_text(numbers.rewritten(readme.read_text(), readme, content))
    assert readme.read_text() == text and numbers.stale(targets) == []


def test_a_file_without_its_block_is_an_error_naming_it(tmp_path):
    doc = tmp_path / "doc.md"
    doc.write_text("# nothing marked\n")
    with pytest.raises(ValueError, match="doc.md: expected <!-- results: NAME -->"):
        numbers.rewritten(doc.read_text(), doc, {"demo-summary": "x\n"})


def test_record_reads_the_results_folder_and_the_time_report(results, tmp_path, monkeypatch):
    log = tmp_path / "time.log"
    log.write_text(TIME_LOG)
    table = tmp_path / "timing.csv"
    table.write_text((ROOT / "bench/demo-timing.csv").read_text())
    before = numbers.read_rows(table)
    monkeypatch.setattr(numbers.os, "getloadavg", lambda: (1.234, 0.0, 0.0))
    row = numbers.record(results, log, quiet=True, load_before=0.5, note="test", path=table)
    assert row["run"] == len(before) + 1
    assert (row["wall_s"], row["user_s"], row["system_s"], row["peak_gb"]) == (3723, 100.5, 20.25, 1.23)
    cpu = [row[f"{stage}_cpu_s"] for stage in numbers.STAGES]
    assert cpu == [5, 40, 12, 10]  # NA counts as nothing; fetch_weight is no stage
    assert (row["steps"], row["runs_trained"], row["runs_healthy"], row["lpips"]) == (300, 2, 1, "imagenet")
    assert (row["quiet"], row["load_before"], row["load_after"]) == ("yes", 0.5, 1.23)
    after = numbers.read_rows(table)
    assert after[:-1] == before and after[-1]["wall_s"] == 3723.0 and after[-1]["quiet"] is True
    with open(table, newline="") as f:
        assert next(csv.reader(f)) == numbers.COLUMNS


def test_the_summary_takes_only_the_runs_at_the_demos_budget():
    rows = numbers.read_rows()
    steps = numbers.demo_steps()
    figures = numbers.figures(rows, steps)
    assert figures["quiet"]["steps"] == steps
    assert all(r["steps"] == steps for r in figures["shared"] + figures["lpips_runs"])
    other = [dict(r, steps=steps + 1) for r in rows if r["quiet"]]  # a quiet run, but of another budget
    assert "has not been timed on a quiet machine yet" in numbers.summary(other, steps, "x")
    walls = [r["wall_s"] for r in figures["shared"]]
    assert f"{round(min(walls) / 60)}–{round(max(walls) / 60)} min" in numbers.summary(rows, steps, "x")
