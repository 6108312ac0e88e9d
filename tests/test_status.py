"""``srloss status``: a study's progress from its files (run folders, heartbeats, job logs).

The unit tests build a study folder by hand with known progress and check every number the
command prints; the integration test watches a real tiny study that Snakemake is training.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest
import yaml
from workflow_runner import BIN, snakemake_command, test_env

from srloss.cli import main, status_lines
from srloss.report.status import Estimate, RunFiles, RunStatus, StudyStatus, failure_cause, stray_groups
from srloss.study import Run, load_study
from srloss.training.progress import HEARTBEAT_EVERY_S, Heartbeat

STUDY = {
    "study": "watch",
    "datasets": {
        "d": {"source": "skimage", "splits": {"train": ["chelsea"], "val": ["coffee"], "test": ["astronaut"]}}
    },
    "models": {"espcn": {"arch": "espcn"}},
    "losses": {"l1": {"terms": [{"name": "l1"}]}, "mse": {"terms": [{"name": "mse"}]}},
    "scales": [2],
    "seeds": [0, 1, 2],
    "training": {"steps": 1000, "log_every": 50},
    "evaluation": {"metrics": ["psnr_y"]},
}
ROOT = Path("results/watch")
OOM = (
    "srloss: error: training: the GPU ran out of memory at step 12 (batch_size 16, model espcn): lower "
    "training.batch_size or the dataset's patch_size, or run on a larger GPU"
)


def _run_dir(work: Path, loss: str, seed: int, model: str = "espcn") -> Path:
    folder = work / ROOT / f"runs/d/{model}/{loss}/x2/seed{seed}"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _trained(work: Path, study, loss: str, seed: int, seconds: float, evaluated: bool = True) -> None:
    """What a finished train job (and, ``evaluated``, its evaluate job) leaves."""
    folder = _run_dir(work, loss, seed)
    spec = study.run_spec(Run("d", "espcn", loss, 2, seed))
    record = {"spec": spec, "status": "completed", "seconds": seconds, "steps_done": 1000, "steps_planned": 1000}
    (folder / "run.json").write_text(json.dumps(record))
    (folder / "train.done").write_text('{"status": "completed"}\n')
    if evaluated:
        (folder / "metrics.csv").write_text("image,psnr_y\nastronaut,30.0\n")
        (folder / "eval.json").write_text("{}")


def _heartbeat(folder: Path, step: int, rate: float | None, age: float, host: str, pid: int) -> None:
    now = time.time()
    beat = {"step": step, "total": 1000, "steps_per_s": rate, "log_every": 50, "start_step": 0}
    beat |= {"started": now - 3600, "updated": now - age, "pid": pid, "host": host, "device": "cuda"}
    (folder / "progress.json").write_text(json.dumps(beat))


@pytest.fixture
def study_folder(tmp_path, monkeypatch) -> Path:
    """7 runs: 2 done (100 s and 300 s for 1000 steps), 1 training (step 400/1000 at 5 steps/s),
    1 stalled (heartbeat 2 h old, stopped before its first window's pace), 1 failed (out of memory),
    1 pending, and the bicubic baseline done; plus a run folder of a model no longer in the config."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "study.yaml").write_text(yaml.safe_dump(STUDY))
    study = load_study(tmp_path / "study.yaml")
    _trained(tmp_path, study, "l1", 0, seconds=100.0)
    _trained(tmp_path, study, "l1", 1, seconds=300.0)
    _heartbeat(_run_dir(tmp_path, "l1", 2), step=400, rate=5.0, age=5, host=socket.gethostname(), pid=os.getpid())
    _heartbeat(_run_dir(tmp_path, "mse", 0), step=0, rate=None, age=7200, host="node-lost", pid=4242)
    log = tmp_path / ROOT / "logs/train/d/espcn/mse/x2/seed0.log"
    log.parent.mkdir(parents=True)
    log.write_text("INFO pid 4242; espcn\nWARNING stopped by signal 15 after step 7\n")
    (tmp_path / ROOT / "logs/train/d/espcn/mse/x2/seed1.log").write_text("INFO pid 17; espcn\n" + OOM + "\n")
    baseline = tmp_path / ROOT / "runs/d/bicubic/none/x2/seed0"
    baseline.mkdir(parents=True)
    (baseline / "metrics.csv").write_text("image,psnr_y\nastronaut,28.0\n")
    (baseline / "eval.json").write_text("{}")
    (_run_dir(tmp_path, "l1", 0, model="srcnn") / "run.json").write_text("{}")  # a model removed from the config
    return tmp_path


def _status(capsys, *args: str) -> list[str]:
    assert main(["status", "study.yaml", *args]) == 0
    return capsys.readouterr().out.splitlines()


def test_status_counts_lists_and_estimates(study_folder, capsys):
    lines = _status(capsys)
    assert re.fullmatch(r"study watch \(results/watch/\), \d{4}-\d\d-\d\d \d\d:\d\d", lines[0])
    assert lines[1] == "3/7 runs done, 1 training, 1 stalled, 1 failed, 1 pending"
    assert lines[2] == "training:"
    host = socket.gethostname()
    assert re.fullmatch(
        rf"  d/espcn/l1/x2/seed2: step 400/1000, 5 steps/s, 0:02:00 left \(cuda on {re.escape(host)}, "
        r"updated 0:00:0[5-9] ago\)",
        lines[3],
    )  # 600 steps at 5 steps/s
    assert lines[4].startswith("stalled (no train.done; heartbeat older than 0:10:00 or its process ended: ")
    assert re.fullmatch(
        r"  d/espcn/mse/x2/seed0: step 0/1000, last heartbeat 2:00:0\d ago \(node-lost, pid 4242\); "
        r"log: WARNING stopped by signal 15 after step 7",
        lines[5],
    )
    assert lines[6:9] == [
        "failed:",
        f"  d/espcn/mse/x2/seed1 (train): {OOM}",
        "    log: results/watch/logs/train/d/espcn/mse/x2/seed1.log",
    ]
    assert lines[9] == "evaluation: 3/7 runs on their own test set"
    assert lines[10] == "aggregation: not yet (results/watch/tables/verdict.md is written once every run is evaluated)"
    # seconds per step: l1 runs 100/1000 = 0.1 and 300/1000 = 0.3, the training one 1/5 = 0.2: mean 0.2 for the
    # l1 cell and for all; the mse cell has none, so all's. Left: training 600 / 5 = 120 s, stalled (in full)
    # 1000 x 0.2 = 200 s, pending 200 s: 520 s of training, 1 run in flight; the failed run is left out.
    assert lines[11] == (
        "ETA: 0:08:40 until the last run is trained (an estimate: 0:08:40 of training left in 3 runs, 1 run in flight)"
    )
    assert lines[12].startswith("  how: each run's remaining steps x seconds per step")
    assert lines[14:] == [
        "not in the study (left as they are; delete them by hand if no longer wanted):",
        "  results/watch/runs/d/srcnn/l1: 1 folder",
    ]


def test_status_all_lists_every_run_and_a_changed_config_outdates_trained_runs(study_folder, capsys):
    lines = _status(capsys, "--all")
    assert lines[lines.index("pending:") + 1] == "  d/espcn/mse/x2/seed2"
    done = lines.index("done:")
    assert lines[done + 1 : done + 4] == ["  d/espcn/l1/x2/seed0", "  d/espcn/l1/x2/seed1", "  d/bicubic/none/x2/seed0"]

    lines = _status(capsys, "--config", "training={lr: 0.01}")  # every trained run's spec changes
    assert lines[1] == "1/7 runs done, 1 training, 1 stalled, 1 failed, 2 outdated, 1 pending"
    outdated = lines.index("outdated (trained for an earlier config: the next snakemake run trains them again):")
    assert lines[outdated + 1 : outdated + 3] == ["  d/espcn/l1/x2/seed0", "  d/espcn/l1/x2/seed1"]
    # no finished run to measure: the training run's 0.2 s/step for all; 120 + 2 x 200 (outdated) + 200 + 200
    eta = next(line for line in lines if line.startswith("ETA: "))
    assert eta.startswith("ETA: 0:15:20 until the last run is trained (an estimate: 0:15:20 of training left in 5 runs")


def test_status_aggregation_and_stopped_processes(study_folder, capsys):
    verdict = study_folder / ROOT / "tables/verdict.md"
    verdict.parent.mkdir(parents=True)
    verdict.write_text("# verdict\n")
    os.utime(verdict, (time.time() - 3600, time.time() - 3600))  # older than the metrics
    dead = subprocess.Popen(["true"])
    dead.wait()  # a pid of this host that has ended: the run stopped without its heartbeat going stale
    _heartbeat(_run_dir(study_folder, "l1", 2), step=400, rate=5.0, age=5, host=socket.gethostname(), pid=dead.pid)
    lines = _status(capsys)
    assert lines[1] == "3/7 runs done, 2 stalled, 1 failed, 1 pending"
    assert any(line.startswith("  d/espcn/l1/x2/seed2: step 400/1000, last heartbeat 0:00:0") for line in lines)
    assert any(f"pid {dead.pid}, its process has ended)" in line for line in lines)
    assert any(line.startswith("aggregation: results/watch/tables/verdict.md of ") for line in lines)
    assert any(line.endswith("is older than the last evaluation") for line in lines)
    # nothing in flight: 3 runs (2 stalled, 1 pending) of 1000 steps at 0.2 s/step, one at a time
    assert any(line.startswith("ETA: 0:10:00 until") and "none in flight now: one at a time" in line for line in lines)


def test_status_trained_runs_and_failed_evaluations(study_folder, capsys):
    runs = study_folder / ROOT / "runs/d/espcn/l1/x2"
    (runs / "seed0/eval.json").unlink()  # its evaluation is under way: metrics.csv is there, eval.json not yet
    (runs / "seed1/metrics.csv").unlink()
    log = study_folder / ROOT / "logs/evaluate/d/espcn/l1/x2/seed1.log"
    log.parent.mkdir(parents=True)
    log.write_text('Traceback (most recent call last):\n  File "m.py", line 3\nOSError: test.h5: unable to open\n')
    lines = _status(capsys)
    assert lines[1] == "1/7 runs done, 1 trained, 1 training, 1 stalled, 2 failed, 1 pending"
    failed = lines.index("failed:")
    assert lines[failed + 1 : failed + 3] == [  # in grid order
        "  d/espcn/l1/x2/seed1 (evaluate): OSError: test.h5: unable to open",
        "    log: results/watch/logs/evaluate/d/espcn/l1/x2/seed1.log",
    ]
    assert "evaluation: 1/7 runs on their own test set" in lines
    assert any(line.startswith("ETA: 0:08:40 until") for line in lines)  # trained runs still give their pace


def test_status_counts_other_test_sets_and_budget_steps(study_folder, capsys):
    config = yaml.safe_load((study_folder / "study.yaml").read_text())
    config["datasets"]["t"] = {"source": "skimage", "splits": {"test": ["camera"]}}
    config["datasets"]["d"]["test_on"] = ["t"]
    config["evaluation"]["steps"] = [500]
    (study_folder / "study.yaml").write_text(yaml.safe_dump(config))
    runs = study_folder / ROOT / "runs/d"
    for folder in (runs / "espcn/l1/x2/seed0/on/t", runs / "espcn/l1/x2/seed0/steps/500"):
        folder.mkdir(parents=True)
        (folder / "metrics.csv").write_text("image,psnr_y\ncamera,25.0\n")
        (folder / "eval.json").write_text("{}")
    (runs / "espcn/l1/x2/seed1/on/gone").mkdir(parents=True)  # a test set no longer in test_on
    log = study_folder / ROOT / "logs/evaluate/d/bicubic/none/x2/seed0/on/t.log"
    log.parent.mkdir(parents=True)
    log.write_text("srloss: error: t: no test images\n")
    lines = _status(capsys)
    assert "evaluation: 3/7 runs on their own test set, 1/7 on other test sets (test_on), 1/6 budget steps " in (
        "\n".join(lines) + " "
    )
    failed = lines.index("failed:")
    assert lines[failed + 3 : failed + 5] == [
        "  d/bicubic/none/x2/seed0 on t (evaluate): srloss: error: t: no test images",
        "    log: results/watch/logs/evaluate/d/bicubic/none/x2/seed0/on/t.log",
    ]
    assert lines[-2:] == [
        "  results/watch/runs/d/espcn/l1/.../on/gone: 1 folder",
        "  results/watch/runs/d/srcnn/l1: 1 folder",
    ]


def test_a_large_study_lists_ten_runs_per_state_unless_all():
    now = time.time()
    beat = {"step": 5, "total": 10, "steps_per_s": 1.0, "log_every": 1, "updated": now - 900, "host": "n", "pid": 1}
    runs = [RunStatus(Run("d", "m", "l", 2, seed), "stalled", RunFiles(heartbeat=beat)) for seed in range(1000)]
    status = StudyStatus("big", Path("results/big"), now, runs, Estimate(5000.0, 5000.0, 1000, 0, 0), 600.0, (0, 0))
    lines = status_lines(status)
    assert lines[1] == "0/1000 runs done, 1000 stalled" and len(lines) < 25
    stalled = [line for line in lines if line.startswith("  d/m/l/x2/seed")]
    assert len(stalled) == 10 and "  ... and 990 more (srloss status --all)" in lines
    assert len([line for line in status_lines(status, show_all=True) if line.startswith("  d/m/l/x2/seed")]) == 1000


def test_heartbeat_is_written_at_start_then_at_most_every_few_seconds(tmp_path):
    now = [1000.0]
    heartbeat = Heartbeat(tmp_path / "progress.json", 500, 100, 10, "cuda:1", clock=lambda: now[0])
    start = json.loads((tmp_path / "progress.json").read_text())
    assert start == {
        "step": 100,
        "total": 500,
        "steps_per_s": None,
        "log_every": 10,
        "start_step": 100,
        "started": 1000.0,
        "updated": 1000.0,
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "device": "cuda:1",
    }
    now[0] += HEARTBEAT_EVERY_S / 2
    heartbeat.beat(110, 20.0)  # moments after the last write: not written
    assert json.loads((tmp_path / "progress.json").read_text())["step"] == 100
    now[0] += HEARTBEAT_EVERY_S / 2
    heartbeat.beat(120, 20.0)
    assert json.loads((tmp_path / "progress.json").read_text()) == {**start, "step": 120, "steps_per_s": 20.0} | {
        "updated": now[0]
    }
    heartbeat.remove()
    assert list(tmp_path.iterdir()) == []  # and no temporary file left


def test_failure_cause_from_a_log():
    traceback = 'INFO step 50/100\nTraceback (most recent call last):\n  File "x.py", line 1\n    f()\n'
    assert failure_cause(traceback + "RuntimeError: CUDA error: an illegal memory access\n") == (
        "RuntimeError: CUDA error: an illegal memory access"
    )
    assert failure_cause("INFO started\nsrloss: error: bad value\n") == "srloss: error: bad value"
    assert failure_cause("INFO step 50/100\nWARNING stopped by signal 15 after step 50\n") is None
    assert failure_cause("") is None and failure_cause(None) is None


def test_stray_folders_are_grouped():
    strays = ["runs/d/srcnn/l1/x2/seed0", "runs/d/srcnn/l1/x4/seed1", "runs/d/espcn/l1/x2/seed0/on/b"]
    assert stray_groups(strays) == [("runs/d/srcnn/l1", 2), ("runs/d/espcn/l1/.../on/b", 1)]


WATCHED = {
    "study": "watched",
    "datasets": {
        "photos": {
            "source": "skimage",
            "splits": {"train": ["chelsea", "rocket"], "val": ["coffee"], "test": ["astronaut"]},
            "patch_size": 32,
            "stride": 32,
        }
    },
    "models": {"espcn": {"arch": "espcn"}},
    "losses": {"l1": {"terms": [{"name": "l1"}]}},
    "scales": [2],
    "seeds": [0],
    "training": {"steps": 1000000, "batch_size": 4, "val_every": 100000, "log_every": 10, "threads": 1},
    "evaluation": {"metrics": ["psnr_y"], "device": "cpu"},
}


def _stop(group: subprocess.Popen) -> None:
    """SIGTERM to Snakemake's process group (Snakemake and its jobs), SIGKILL to what is left after 60 s."""
    for sig, wait in ((signal.SIGTERM, 60), (signal.SIGKILL, 10)):
        try:
            os.killpg(group.pid, sig)
        except ProcessLookupError:
            return
        deadline = time.time() + wait
        while time.time() < deadline:
            group.poll()  # reap Snakemake itself, so that only live processes keep the group
            try:
                os.killpg(group.pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.2)


def _srloss_status(workdir: Path) -> subprocess.CompletedProcess:
    """The real command, as a person runs it in the study's folder (stderr: the modules it imports)."""
    command = [str(BIN / "srloss"), "status", "study.yaml"]
    env = {**test_env(), "PYTHONPROFILEIMPORTTIME": "1"}
    return subprocess.run(command, cwd=workdir, env=env, capture_output=True, text=True, timeout=120)


@pytest.mark.integration
def test_status_watches_a_study_that_snakemake_trains(tmp_path):
    (tmp_path / "study.yaml").write_text(yaml.safe_dump(WATCHED))
    heartbeat = tmp_path / "results/watched/runs/photos/espcn/l1/x2/seed0/progress.json"
    with open(tmp_path / "snakemake.out", "w") as out:
        snakemake = subprocess.Popen(
            snakemake_command(tmp_path, "--cores", "2"),
            cwd=tmp_path,
            env=test_env(),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stopped, jobs and all, by _stop
        )
    try:
        deadline = time.time() + 600
        while not (heartbeat.exists() and json.loads(heartbeat.read_text())["steps_per_s"]):
            assert snakemake.poll() is None and time.time() < deadline, (tmp_path / "snakemake.out").read_text()[-3000:]
            time.sleep(0.5)
        status = _srloss_status(tmp_path)
    finally:
        _stop(snakemake)
    print(status.stdout)
    assert status.returncode == 0, status.stderr
    assert re.search(r"\|\s+srloss\.report\.status$", status.stderr, re.M)  # the import probe works ...
    assert not re.search(r"\|\s+torch$", status.stderr, re.M)  # ... and the workflow's cache spares torch
    lines = status.stdout.splitlines()
    assert re.fullmatch(r"[01]/2 runs done, 1 training(, 1 pending)?", lines[1]), status.stdout  # (the baseline)
    running = lines[lines.index("training:") + 1]
    assert re.fullmatch(r"  photos/espcn/l1/x2/seed0: step \d+/1000000, [\d.]+ steps/s, .+ left \(cpu on .+\)", running)
    assert re.search(r"^ETA: (\d+ days?, )?\d+:\d\d:\d\d until the last run is trained", status.stdout, re.M)

    after = _srloss_status(tmp_path)  # Snakemake and its job stopped: the run stopped, its heartbeat is left
    print(after.stdout)
    assert "its process has ended" in after.stdout and "1 stalled" in after.stdout.splitlines()[1], after.stdout
    assert re.search(r"^ETA: .+ in 1 run, none in flight now", after.stdout, re.M)  # at the stalled run's last pace
