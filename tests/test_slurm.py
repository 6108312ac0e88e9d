"""A real SLURM run: a single-node cluster with two fake GPUs on 127.0.0.1 (.ci/slurm-up.sh),
a tiny study submitted through profiles/slurm: training jobs run as SLURM jobs on distinct GPUs,
each job is allocated what its rule asks (GPU only where one is used, CPUs = threads, memory and
time limit), and a status command that cannot work stops the run before any submission, in one
line. Skipped, saying why, where SLURM cannot be started (not root, no apt-get)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent

STUDY = {
    "study": "slurm",
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
    "training": {"steps": 4, "batch_size": 2, "val_every": 2, "threads": 1},
}
RUN = "results/slurm/runs/photos/espcn/mse/x2/seed0"
BASELINE = "results/slurm/runs/photos/bicubic/none/x2/seed0"
# memory and time limit of each submitted rule's jobs: the rules' defaults (the profile sets none)
RULE_LIMITS = {"prepare": ("4000M", "01:00:00"), "train": ("16000M", "12:00:00"), "evaluate": ("8000M", "01:00:00")}
SUBMITTED = re.compile(r"submitted with SLURM jobid (\d+) \(log: \S+/slurm_logs/rule_(\w+)/(?:(\S+)/)?\d+\.log\)")
GPU_RUN_LINE = re.compile(r"gpu-run pid=\d+: CUDA_VISIBLE_DEVICES=(\S*) \(already set, honoured\) SLURM_JOB_ID=(\d+)")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    if os.geteuid() != 0:
        pytest.skip(
            "SLURM test skipped: starting slurmctld/slurmd/munged and creating fake GPU device nodes needs root"
        )
    if not (shutil.which("slurmctld") and shutil.which("munged")) and not shutil.which("apt-get"):
        pytest.skip("SLURM test skipped: slurm-wlm/munge are not installed and there is no apt-get to install them")
    state = tmp_path_factory.mktemp("slurm")
    try:
        up = subprocess.run([str(REPO / ".ci/slurm-up.sh"), str(state)], capture_output=True, text=True, timeout=600)
        assert up.returncode == 0, f"slurm-up.sh failed ({up.returncode}): {up.stderr}"
        yield state
    finally:
        subprocess.run([str(REPO / ".ci/slurm-down.sh"), str(state)], timeout=60)


def _snakemake(cwd: Path, study: dict, *args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    """snakemake with profiles/slurm on ``study`` in ``cwd``, in an environment without SLURM or GPU variables."""
    (cwd / "study.yaml").write_text(yaml.safe_dump(study))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLURM_", "CUDA_VISIBLE_DEVICES", "SRLOSS_GPU"))}
    env.update(PATH=f"{BIN}:{os.environ['PATH']}", PYTHONPATH=f"{REPO / 'src'}:{os.environ.get('PYTHONPATH', '')}")
    command = [str(BIN / "snakemake"), "-s", str(REPO / "Snakefile"), "--configfile", "study.yaml"]
    command += ["--profile", str(REPO / "profiles/slurm"), *args]
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def _on_cpu(threads: int) -> dict:
    """STUDY with training and evaluation on the CPU, training on ``threads`` threads."""
    training = {**STUDY["training"], "device": "cpu", "threads": threads}
    return {**STUDY, "training": training, "evaluation": {"device": "cpu"}}


def _submitted(stderr: str) -> list[tuple[str, str, str]]:
    """(rule, wildcards as the plugin joins them, SLURM job id) of every job Snakemake submitted."""
    return [(rule, wildcards, job_id) for job_id, rule, wildcards in SUBMITTED.findall(stderr)]


def _allocated(job_id: str) -> dict[str, str]:
    """What SLURM gave a job (scontrol show job; slurmctld keeps a finished job for MinJobAge = 300 s)."""
    out = subprocess.run(["scontrol", "show", "job", "-o", job_id], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    return dict(field.split("=", 1) for field in out.stdout.split() if "=" in field)


def _has_gpu(job: dict[str, str]) -> bool:
    return any("gpu" in job.get(key, "") for key in ("TresPerJob", "TresPerNode", "TresPerTask", "TRES"))


def _check_allocations(jobs: list[tuple[str, str, str]], uses_gpu, cpus: dict[str, int]) -> None:
    for rule, wildcards, job_id in jobs:
        job = _allocated(job_id)
        assert _has_gpu(job) == uses_gpu(rule, wildcards), (rule, wildcards, job)
        assert job["CPUs/Task"] == str(cpus.get(rule, 1)), (rule, job)
        assert (job["MinMemoryNode"], job["TimeLimit"]) == RULE_LIMITS[rule], (rule, job)


def _gpu_record(path: Path) -> dict:
    record = json.loads(path.read_text())
    return record["device"]["gpu"] if "device" in record else record["gpu"]


@pytest.mark.integration
def test_study_runs_through_the_slurm_profile(cluster, tmp_path):
    # this test cluster has no accounting database (and no accounts: the plugin submits without);
    # the profile's default status command must work there as it is; checks start early to save time
    result = _snakemake(tmp_path, STUDY, "--slurm-init-seconds-before-status-checks", "1")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    assert (tmp_path / "results/slurm/tables/summary.csv").is_file()

    # every training job ran as a SLURM job with one GPU of its own (gpu-run logs what it found)
    logs = sorted((tmp_path / "results/slurm/logs/train").rglob("*.log"))
    assert len(logs) == 2
    seen = [GPU_RUN_LINE.search(log.read_text()) for log in logs]
    assert all(seen), [log.read_text()[:2000] for log in logs]
    devices = [m.group(1) for m in seen]
    job_ids = [m.group(2) for m in seen]
    assert len(set(job_ids)) == 2
    assert sorted(devices) == ["0", "1"], f"both training jobs were given the same GPU: {devices}"

    # every rule was submitted to SLURM except the localrules (aggregation ran on the submit host)
    jobs = _submitted(result.stderr)
    rules = sorted(rule for rule, _, _ in jobs)
    assert rules == ["evaluate"] * 3 + ["prepare"] * 3 + ["train"] * 2, result.stderr[-3000:]

    # a GPU for training and the trained runs' evaluation, none for the bicubic baseline or data preparation;
    # one CPU each (training.threads: 1), the rules' memory and time limits
    _check_allocations(jobs, lambda rule, wildcards: rule == "train" or "espcn" in wildcards, {})
    # run.json and eval.json say which GPU (CUDA_VISIBLE_DEVICES as SLURM set it) and which SLURM job
    train_ids = {wildcards.split("_")[2]: job_id for rule, wildcards, job_id in jobs if rule == "train"}
    gpu = _gpu_record(tmp_path / RUN / "run.json")
    assert gpu["cuda_visible_devices"] == devices[job_ids.index(train_ids["mse"])], gpu
    assert gpu["slurm_job_id"] == train_ids["mse"], gpu  # (the device's name: none where torch sees no GPU)
    baseline = _gpu_record(tmp_path / BASELINE / "eval.json")
    assert baseline["cuda_visible_devices"] is None and baseline["slurm_job_id"].isdigit(), baseline

    # the same study on the CPU (devices and threads are execution settings: nothing reruns by itself);
    # one run's training and evaluation, forced again, ask for no GPU, and training for training.threads CPUs
    checks = ("--slurm-init-seconds-before-status-checks", "1")
    result = _snakemake(tmp_path, _on_cpu(threads=2), f"{RUN}/metrics.csv", *checks, "--forcerun", "train")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    jobs = _submitted(result.stderr)
    assert sorted(rule for rule, _, _ in jobs) == ["evaluate", "train"], result.stderr[-3000:]
    _check_allocations(jobs, lambda rule, wildcards: False, {"train": 2})
    train_id = next(job_id for rule, _, job_id in jobs if rule == "train")
    no_gpu = {"cuda_visible_devices": None, "name": None, "slurm_job_id": train_id}
    assert _gpu_record(tmp_path / RUN / "run.json") == no_gpu
    assert "gpu-run" not in (tmp_path / "results/slurm/logs/train/photos/espcn/mse/x2/seed0.log").read_text()


@pytest.mark.integration
@pytest.mark.parametrize(
    "option, fix",
    [
        (("--slurm-status-command", "sacct"), "set `slurm-status-command: squeue` in profiles/slurm/config.yaml"),
        # MinJobAge (300 s) under 3 x 101 s: the plugin would switch from squeue to sacct by itself
        (
            ("--slurm-init-seconds-before-status-checks", "101"),
            "`slurm-init-seconds-before-status-checks` to at most 100",
        ),
    ],
)
def test_a_status_command_that_fails_stops_the_run_before_any_submission(cluster, tmp_path, option, fix):
    """On this cluster without accounting sacct fails; the plugin would wait forever without a word."""
    result = _snakemake(tmp_path, STUDY, *option, timeout=300)
    assert result.returncode == 1, result.stderr[-3000:]
    last = result.stderr.rstrip().splitlines()[-1]
    assert last.startswith("srloss: error: SLURM status checks:") and "`sacct` fails on this cluster" in last, last
    assert fix in last, last
    assert "has been submitted" not in result.stderr and not (tmp_path / "results").exists()


@pytest.mark.integration
@pytest.mark.parametrize(
    "profile, devices", [("slurm", "default"), ("slurm", "cpu"), ("local", "default")], ids=lambda v: str(v)
)
def test_profiles_request_what_each_rule_needs(tmp_path, profile, devices):
    """Without a cluster (dry runs): the profiles parse; a GPU only for jobs that use one (training, the
    trained runs' evaluation; none under device: cpu), CPUs = threads, every rule a runtime and memory."""
    from snakemake_executor_plugin_slurm_jobstep import get_cpu_setting  # what submit_string puts on sbatch

    study = _on_cpu(threads=3) if devices == "cpu" else STUDY
    (tmp_path / "study.yaml").write_text(yaml.safe_dump(study))
    env = {
        **os.environ,
        "PATH": f"{BIN}:{os.environ['PATH']}",
        "PYTHONPATH": f"{REPO / 'src'}:{os.environ.get('PYTHONPATH', '')}",
    }
    result = subprocess.run(
        [
            str(BIN / "snakemake"),
            "-s",
            str(REPO / "Snakefile"),
            "--configfile",
            "study.yaml",
            "--profile",
            str(REPO / "profiles" / profile),
            "-n",
            "--cores",  # a dry run caps threads at --cores (1 unless given)
            "4",
            "--quiet",  # the job listing, which profiles/local keeps quiet (quiet: rules)
            "progress",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    jobs = []  # (rule, wildcards, threads, resources) of each job of the dry run
    for block in re.split(r"^(?=(?:local)?rule \w+:$)", result.stdout, flags=re.M):
        rule = re.match(r"(?:local)?rule (\w+):\n", block)
        if rule and rule.group(1) != "all":
            fields = dict(re.findall(r"^    (\w+): (.*)$", block, re.M))
            resources = dict(r.split("=", 1) for r in fields["resources"].split(", "))
            threads = int(fields.get("threads", "1"))  # the listing names threads other than 1
            jobs.append((rule.group(1), fields.get("wildcards", ""), threads, resources))
    assert sorted(rule for rule, _, _, _ in jobs) == [
        "aggregate",
        "evaluate",
        "evaluate",
        "evaluate",
        "prepare",
        "prepare",
        "prepare",
        "train",
        "train",
    ]
    for rule, wildcards, threads, resources in jobs:
        uses_gpu = devices == "default" and (rule == "train" or (rule == "evaluate" and "model=espcn" in wildcards))
        assert resources.get("gpu", "0") == ("1" if uses_gpu else "0"), (rule, wildcards, resources)
        assert threads == (study["training"]["threads"] if rule == "train" else 1), (rule, threads)
        # the CPUs sbatch is asked for: the slurm executor's own choice for this job (its threads,
        # where no cpus_per_task or cpus_per_gpu resource says otherwise)
        job = SimpleNamespace(threads=threads, resources=resources)
        assert get_cpu_setting(job, uses_gpu) == f"--cpus-per-task={threads}", (rule, threads, resources)
        assert int(resources["runtime"]) > 0 and int(resources["mem_mb"]) > 0, (rule, resources)


# --- the status-check guard (srloss.slurm_status) without a cluster: fake sacct and scontrol ---


def _fake_slurm(bin_dir: Path, sacct_exit: int, min_job_age: int) -> None:
    """``sacct`` that exits ``sacct_exit`` (saying why on stderr) and ``scontrol`` that reports ``min_job_age``."""
    bin_dir.mkdir()
    said = "echo 'Slurm accounting storage is disabled' >&2" if sacct_exit else ""
    (bin_dir / "sacct").write_text(f"#!/bin/sh\n{said}\nexit {sacct_exit}\n")
    (bin_dir / "scontrol").write_text(f"#!/bin/sh\necho 'MinJobAge               = {min_job_age} sec'\n")
    for tool in ("sacct", "scontrol"):
        (bin_dir / tool).chmod(0o755)


def _settings(status_command: str, init: int = 40):
    return SimpleNamespace(status_command=status_command, init_seconds_before_status_checks=init)


@pytest.mark.parametrize(
    "status_command, init, sacct_exit, min_job_age, expected",
    [
        (
            "sacct",
            40,
            1,
            300,
            r"`sacct` fails on this cluster \(exit status 1: Slurm accounting storage is disabled\)"
            r".*set `slurm-status-command: squeue` in profiles/slurm/config.yaml",
        ),
        (
            "squeue",
            40,
            1,
            60,
            r"MinJobAge is 60 s, under 3 x slurm-init-seconds-before-status-checks \(3 x 40 s\)"
            r".*set `slurm-init-seconds-before-status-checks` to at most 20 in profiles/slurm/config.yaml",
        ),
        ("squeue", 40, 1, 300, None),  # squeue is used as configured: sacct is not asked
        ("sacct", 40, 0, 300, None),  # sacct works
        ("squeue", 40, 0, 60, None),  # switched to sacct, which works
    ],
)
def test_status_check_guard(tmp_path, monkeypatch, status_command, init, sacct_exit, min_job_age, expected):
    from srloss.slurm_status import StatusCheckError, status_check_warnings

    _fake_slurm(tmp_path / "bin", sacct_exit, min_job_age)
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}:{os.environ['PATH']}")
    if expected is None:
        assert status_check_warnings(_settings(status_command, init)) == []
    else:
        with pytest.raises(StatusCheckError, match=expected):
            status_check_warnings(_settings(status_command, init))


def test_status_check_guard_warns_where_squeue_may_miss_a_job(tmp_path, monkeypatch):
    """MinJobAge 150 s: squeue is kept (150 >= 3 x 40) but checks up to 180 s apart can miss a finished job."""
    from srloss.slurm_status import status_check_warnings

    _fake_slurm(tmp_path / "bin", 1, 150)
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}:{os.environ['PATH']}")
    (warning,) = status_check_warnings(_settings("squeue"))
    assert "MinJobAge = 150 s, but the checks can be 180 s apart" in warning and "slurm.conf" in warning


def test_planned_status_command_follows_the_plugin():
    from srloss.slurm_status import planned_command

    assert planned_command("squeue", 40, 300, sacct_installed=True) == "squeue"
    assert planned_command("squeue", 40, 100, sacct_installed=True) == "sacct"  # MinJobAge < 3 x 40
    assert planned_command("squeue", 40, None, sacct_installed=True) == "sacct"  # MinJobAge unknown
    assert planned_command("squeue", 40, 100, sacct_installed=False) == "squeue"
    assert planned_command("sacct", 40, 300, sacct_installed=False) == "squeue"
    assert planned_command(None, 40, 300, sacct_installed=True) == "squeue"  # the plugin found no SLURM
