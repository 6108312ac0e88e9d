# Shared definitions: the validated study, its grid, output paths, execution settings and the
# input functions of every rule (rule files hold rules only).
import inspect
import os
import re
import shlex
import sys
import time
from functools import lru_cache
from pathlib import Path

from snakemake.common import overwrite_function_params
from snakemake.resources import Resource

from srloss.codehash import code_cache, job_code, stage_hashes
from srloss.study import EXECUTION_ONLY, Run, to_json
from srloss.data.content import DigestCache
from srloss.data.manifest import ShardDamaged, restore_stamp, verify_shard
from srloss.data.sources import all_archives, fetch_inputs, local_archive, location, mirror_of, split_fingerprint
from srloss.training.settings import execution_settings
from srloss.weights import LPIPS_TRUNKS, WEIGHT_FILES, WORKFLOW_TORCH_HOME


def rule_function(func):
    """Mark ``func`` as a function rules call per job (input, params, resources). Snakemake reads the
    signature of such a function with inspect.signature two or three times per call, an eighth of a
    large dry run; it is read once here instead (overwrite_function_params: Snakemake's own helpers
    record a signature the same way)."""
    overwrite_function_params(func, inspect.signature(func).parameters)
    return func


# Snakemake evaluates each job's threads and every resource function (tmpdir, gpu, attempt) through
# Resource.evaluate, a bound method whose signature (*args, **kwargs) it reads with inspect.signature
# twice per call: a twentieth of a large dry run. It is read once here, from the method itself, as
# rule_function does for srloss's own functions; what Snakemake passes and gets back is the same.
overwrite_function_params(Resource.evaluate, inspect.signature(Resource("signature", 0).evaluate).parameters)


# Every rule runs srloss with the interpreter running this workflow (`.venv/bin/snakemake` runs
# `.venv/bin/python`), so no `srloss` on PATH is needed; a cluster job's parse resolves the same
# path on its node (a shared filesystem). Rules name it as $SRLOSS_PYTHON (an environment variable,
# not a param: moving the virtual environment reruns nothing); its path must not contain spaces.
SRLOSS = f"{sys.executable} -m srloss"
RESULTS = f"results/{study.name}"
RUN_ID = "{dataset}/{model}/{loss}/x{scale}/seed{seed}"
RUN_DIR = f"{RESULTS}/runs/{RUN_ID}"
# Hash of the srloss code each job runs, its `code` param: editing a library module reruns exactly
# the jobs that run it (policy in srloss.codehash, docs/cluster.md). A job's code is its stage's
# modules plus the registry members it uses (its model, loss terms, metrics or source: job_code);
# aggregation and budget curves take their whole stage's (CODE). All are computed here, once per
# parse, from what earlier parses found in the sources (CODE_SOURCES, by their content).
CODE_SOURCES = code_cache(CACHE_DIR)
CODE = stage_hashes(cache=CODE_SOURCES)
JOB_CODES = {
    "prepare": {
        d: job_code("prepare", study.members("prepare", dataset=d), cache=CODE_SOURCES) for d in config["datasets"]
    },
    "train": {
        (m, loss): job_code("train", study.members("train", model=m, loss=loss), cache=CODE_SOURCES)
        for m in study.models
        if study.is_trained(m)
        for loss in config["losses"]
    },
    "evaluate": {m: job_code("evaluate", study.members("evaluate", model=m), cache=CODE_SOURCES) for m in study.models},
}
CODE_SOURCES.save()


def code_of(stage):
    """The `code` param of a job of ``stage`` (train, evaluate, prepare): which wildcards it depends on."""
    codes = JOB_CODES[stage]
    if stage == "prepare":
        return rule_function(lambda wildcards: codes[wildcards.dataset])
    if stage == "train":
        return rule_function(lambda wildcards: codes[wildcards.model, wildcards.loss])
    return rule_function(lambda wildcards: codes[wildcards.model])


wildcard_constraints:
    dataset="[^/]+",
    model="[^/]+",
    loss="[^/]+",
    scale="[0-9]+",
    seed="[0-9]+",
    split="train|val|test",
    test_set="[^/]+",


localrules:
    all,
    aggregate,


# Execution-only settings (training.threads/device/checkpoint_every/keep_checkpoint/log_every/
# tensorboard, evaluation.device/batch_size/tile/max_batch_pixels) change how a job runs, never its result. They reach
# the shell commands as environment variables set here, at parse time (a cluster job parses the
# workflow again on its node), and as resources (gpu), not as params: Snakemake reruns a job whose params change.
TRAIN_ON_GPU = config["training"]["device"] != "cpu"
EVALUATE_ON_GPU = config["evaluation"]["device"] != "cpu"


def evaluation_args(device):
    """`srloss evaluate` options of the execution-only evaluation settings, on ``device``."""
    settings = {**config["evaluation"], "device": device}
    return " ".join(f"--{key.replace('_', '-')} {settings[key]}" for key in EXECUTION_ONLY["evaluation"])


# An evaluation job runs as its `gpu` resource says (evaluation_gpus): $SRLOSS_EVAL_LAUNCH_<gpus> and
# $SRLOSS_EVAL_EXECUTION_<gpus> in its command, so a job that asked for no GPU runs on the CPU.
os.environ.update(
    SRLOSS_TRAIN_EXECUTION=to_json(execution_settings(config["training"])),
    SRLOSS_PYTHON=sys.executable,
    SRLOSS_TRAIN_LAUNCH=f"{SRLOSS} gpu-run --" if TRAIN_ON_GPU else "",  # one free GPU per job
    SRLOSS_EVAL_LAUNCH_0="",
    SRLOSS_EVAL_LAUNCH_1=f"{SRLOSS} gpu-run --",
    SRLOSS_EVAL_EXECUTION_0=evaluation_args("cpu"),
    SRLOSS_EVAL_EXECUTION_1=evaluation_args(config["evaluation"]["device"]),
    # where each dataset's files lie (srloss.data.sources.location): the prepare job reads them, its
    # identity does not hold them, so moving a dataset's folder (same content) reruns nothing
    SRLOSS_DATASET_LOCATIONS=to_json({name: location(ds) for name, ds in config["datasets"].items()}),
)


envvars:
    "SRLOSS_PYTHON",
    "SRLOSS_DATASET_LOCATIONS",
    "SRLOSS_TRAIN_EXECUTION",
    "SRLOSS_TRAIN_LAUNCH",
    "SRLOSS_EVAL_LAUNCH_0",
    "SRLOSS_EVAL_LAUNCH_1",
    "SRLOSS_EVAL_EXECUTION_0",
    "SRLOSS_EVAL_EXECUTION_1",


# --- resources -------------------------------------------------------------------------------
# What each job asks of the scheduler (sbatch under profiles/slurm; --resources locally), decided here
# and in the rules, from the study: CPUs = the rule's threads (training: training.threads), a GPU only
# for a job that uses one, and each rule's runtime (minutes) and mem_mb, defaults that a cluster with
# other limits overrides in its profile (set-resources). docs/cluster.md has the table. The CPUs need
# no resource: without cpus_per_task the slurm executor asks sbatch for --cpus-per-task=<threads>
# (snakemake-executor-plugin-slurm-jobstep's get_cpu_setting), and a resource function is one
# more call per job of every dry run.
@rule_function
def evaluation_gpus(wildcards):
    """1 where an evaluation job uses a GPU: evaluation.device is not cpu and the run is trained. An
    untrained baseline (bicubic) evaluates on the CPU, unless evaluation.device names a GPU (cuda, cuda:N)."""
    device = config["evaluation"]["device"]
    return int(EVALUATE_ON_GPU and (study.is_trained(wildcards.model) or device.startswith("cuda")))


# Pretrained weights live in torch hub's layout under TORCH_HOME (resources/weights unless set);
# every job inherits it (weights.smk).
WEIGHTS_HOME = os.environ.get("TORCH_HOME") or WORKFLOW_TORCH_HOME
os.environ["TORCH_HOME"] = os.path.abspath(WEIGHTS_HOME)
WEIGHTS_DIR = f"{WEIGHTS_HOME}/hub/checkpoints"
BACKBONE_OF_FILE = {wf.file: name for name, wf in WEIGHT_FILES.items()}
WEIGHT_FILE_PATTERN = "|".join(re.escape(f) for f in BACKBONE_OF_FILE)


def result(path):
    """A path under the study's results folder (wildcards stay as they are)."""
    return f"{RESULTS}/{path}"


def run_file(name):
    """A file in a run's folder (results/<study>/runs/<dataset>/<model>/<loss>/x<scale>/seed<seed>/)."""
    return f"{RUN_DIR}/{name}"


def run_of(wildcards):
    return Run(wildcards.dataset, wildcards.model, wildcards.loss, int(wildcards.scale), int(wildcards.seed))


def run_dir(run):
    return RUN_DIR.format(**vars(run))


@rule_function
def run_spec_json(wildcards):
    """The run's spec as JSON, its jobs' identity (train, evaluate, evaluate_on, evaluate_step)."""
    return _run_spec_json(wildcards.dataset, wildcards.model, wildcards.loss, wildcards.scale, wildcards.seed)


@lru_cache(maxsize=None)  # built once per run, not once per job of the run
def _run_spec_json(dataset, model, loss, scale, seed):
    return to_json(study.run_spec(Run(dataset, model, loss, int(scale), int(seed))))


# --- files known by content ---------------------------------------------------------------
# The user's images and the shards are known by their SHA-256, remembered per file state in
# DIGESTS (srloss.data.content), so only a changed file is read again.
DIGESTS = DigestCache(f"{CACHE_DIR}/digests.json")
IMAGE_FILES = {  # (dataset, split) -> fingerprint of its image files' content (datasets with `root`)
    (d, split): split_fingerprint(study.dataset_spec(d), split, DIGESTS) for d, _, split in study.shards()
}


def check_shards():
    """Every shard against its manifest (srloss.data.manifest). A damaged one (truncated, edited,
    half copied) gets its manifest's timestamp back, so its damage plans no rerun of what was made
    from it, and is prepared again before the first job of a run (onstart); a dry run, a report or
    a lint only name it."""
    damaged = []
    for dataset, scale, split in study.shards():
        shard = f"{RESULTS}/data/{dataset}/x{scale}/{split}.h5"
        if os.path.exists(shard):
            try:
                verify_shard(shard, DIGESTS)
            except ShardDamaged as e:
                restore_stamp(shard)
                damaged.append((shard, dataset, scale, split))
                print(f"srloss: {e}; it is prepared again before the first job runs", file=sys.stderr)
    return damaged


def repair_damaged_shards():
    """Before the first job of a run: prepare every damaged shard again (check_shards)."""
    if DAMAGED_SHARDS:
        from srloss.data.prepare import repair_shard

        for shard, dataset, scale, split in DAMAGED_SHARDS:
            print(f"srloss: {shard}: preparing it again ...", file=sys.stderr, flush=True)
            outcome = repair_shard(shard, study.dataset_spec(dataset), scale, split)
            print(f"srloss: {shard}: {outcome}", file=sys.stderr)


DAMAGED_SHARDS = check_shards() if workflow.is_main_process else []  # a cluster job checks its own shards
DIGESTS.save()


RUN_STARTED = time.time()


def report_command():
    files = " ".join(f"--configfile {shlex.quote(os.path.relpath(f))}" for f in workflow.overwrite_configfiles)
    return f"{sys.argv[0]} --report {RESULTS}/report.html {files}".strip()


def end_of_run(failed):
    """The run's last words: each failed job's cause and log (srloss.report.status), or where the results are."""
    from srloss.report.status import run_summary

    for line in run_summary(Path(RESULTS), RUN_STARTED, failed, report_command()):
        print(line, file=sys.stderr)


def check_slurm_status_command():
    """Under the slurm executor: stop before the first submission if its job status checks cannot work
    (srloss.slurm_status). Here, not at parse time: the executor and its settings are known from onstart on."""
    plugin = workflow.executor_plugin
    if plugin is None or plugin.name != "slurm":
        return
    from srloss.slurm_status import StatusCheckError, status_check_warnings

    try:
        for warning in status_check_warnings(workflow.executor_settings):
            print(f"srloss: warning: {warning}", file=sys.stderr)
    except StatusCheckError as e:
        sys.exit(f"srloss: error: {e}")


onstart:
    check_slurm_status_command()
    repair_damaged_shards()


onsuccess:
    end_of_run(failed=False)


onerror:
    end_of_run(failed=True)


# --- fetch ---------------------------------------------------------------------------------
ARCHIVES = all_archives()  # name -> archive, every source's downloads (srloss.data.sources)


def mirror_url(wildcards):
    """The `url` (mirror base) of the first dataset of this source that sets one, else None."""
    return mirror_of(config["datasets"], wildcards.source)


@rule_function
def user_archive(wildcards):
    """The local `archive` of the first dataset of this source that sets one."""
    return local_archive(config["datasets"], wildcards.source)


@rule_function
def dataset_inputs(wildcards):
    """What prepare needs first: fetch markers of downloaded archives, or of the user's unpacked archive."""
    return [str(path) for path in fetch_inputs(study.dataset_spec(wildcards.dataset))]


# --- weights -------------------------------------------------------------------------------
def weight_files(backbones):
    return [f"{WEIGHTS_DIR}/{WEIGHT_FILES[b].file}" for b in backbones]


def run_weight_files(wildcards):
    """The weight files one run's loss loads."""
    run = run_of(wildcards)
    return weight_files(study.loss_backbones(run.loss)) if run.trained else []


def study_backbones():
    """Every backbone the study's losses load, plus the LPIPS metric's trunks (fetched so that
    `fetch_weights` gets all a study needs; evaluation without them reports LPIPS missing)."""
    lpips = config["evaluation"]["lpips"]
    evaluation = (
        {LPIPS_TRUNKS[net] for net in lpips["nets"]}
        if "lpips" in config["evaluation"]["metrics"] and not lpips["random_backbone"]
        else set()
    )
    return sorted(set(study.backbones()) | evaluation)


# --- train ---------------------------------------------------------------------------------
@rule_function
def train_inputs(wildcards):
    inputs = {
        "train": f"{RESULTS}/data/{wildcards.dataset}/x{wildcards.scale}/train.h5",
        "val": f"{RESULTS}/data/{wildcards.dataset}/x{wildcards.scale}/val.h5",
    }
    weights = run_weight_files(wildcards)  # pretrained backbones of the loss
    if weights:
        inputs["weights"] = weights
    init = study.init_run(run_of(wildcards))
    if init is not None:  # losses.<loss>.init_from: start from that run's generator
        inputs["init"] = f"{run_dir(init)}/model.pt"
    return inputs


# --- evaluate ------------------------------------------------------------------------------
@rule_function
def evaluate_inputs(wildcards):
    inputs = {"test": f"{RESULTS}/data/{wildcards.dataset}/x{wildcards.scale}/test.h5"}
    if study.is_trained(wildcards.model):  # evaluation.weights: last (model.pt) or best (model_best.pt)
        weights = "model_best.pt" if config["evaluation"]["weights"] == "best" else "model.pt"
        inputs["model"] = f"{RUN_DIR.format(**wildcards)}/{weights}"
        inputs["done"] = f"{RUN_DIR.format(**wildcards)}/train.done"  # train.smk: the run is up to date
    return inputs


def tuned_val_metrics() -> list[str]:
    """evaluate_val's outputs: every grid point's validation metrics, what the selection reads."""
    return [f"{run_dir(run)}/val/metrics.csv" for run in study.runs() if study.is_tuned(run.loss)]


@rule_function
def val_inputs(wildcards):
    """evaluate_val: the run's weights (as evaluate_inputs) and the validation shard, for a grid point
    of a tuned loss only (losses.<name>.tune)."""
    if not study.is_tuned(wildcards.loss):
        raise ValueError(f"loss {wildcards.loss!r} is not tuned: its runs are not evaluated on the validation split")
    inputs = evaluate_inputs(wildcards)
    inputs["val"] = f"{RESULTS}/data/{wildcards.dataset}/x{wildcards.scale}/val.h5"
    del inputs["test"]
    return inputs


@rule_function
def evaluation_json(wildcards):
    return _evaluation_json(wildcards.dataset)


@lru_cache(maxsize=None)  # one per test set
def _evaluation_json(test_set):
    return to_json(study.evaluation_spec(test_set))


# datasets.<name>.test_on: a run is also evaluated on other datasets' test splits, into
# <run folder>/on/<test set>/ (evaluate.smk's evaluate_on)
CROSS_DIR = f"{RUN_DIR}/on/{{test_set}}"


def cross_dir(run, test_set):
    return CROSS_DIR.format(**vars(run), test_set=test_set)


@rule_function
def evaluate_on_inputs(wildcards):
    """evaluate_inputs with the test shard of dataset {test_set} (the trained weights are the same)."""
    return {**evaluate_inputs(wildcards), "test": f"{RESULTS}/data/{wildcards.test_set}/x{wildcards.scale}/test.h5"}


@rule_function
def evaluation_on_json(wildcards):
    if wildcards.test_set not in study.test_sets(wildcards.dataset)[1:]:
        raise ValueError(f"{wildcards.test_set!r} is not in datasets.{wildcards.dataset}.test_on")
    return _evaluation_json(wildcards.test_set)


# --- aggregate -----------------------------------------------------------------------------
def front_page():
    """The report's front page: the aggregate job's (absolute: the report resolves `report:`
    against the Snakefile's folder, not --directory) once written, else the static conventions."""
    written = Path(RESULTS, outputs.LANDING).resolve()
    return str(written) if written.exists() else "workflow/report/workflow.rst"


def in_report(stem, ext, caption, category, subcategory):
    """An aggregate output that also goes into `snakemake --report` under a category."""
    return report(f"{RESULTS}/{stem}.{ext}", caption=f"../report/{caption}", category=category, subcategory=subcategory)


# evaluation.figures.pdf: the aggregate and budget rules write every figure as PDF beside its PNG
FIGURES_PDF = config["evaluation"]["figures"]["pdf"]


# --- budget --------------------------------------------------------------------------------
# evaluation.steps: each trained run saves its generator at these steps (train.smk's `steps`
# output) and evaluate_step measures them (budget.smk); docs/evaluation.md, Budget curves.
BUDGET_STEPS = sorted(config["evaluation"]["steps"])


@rule_function
def step_weights(wildcards):
    """The generator weights one run saved at step {step}, and the test shard."""
    return {
        "test": f"{RESULTS}/data/{wildcards.dataset}/x{wildcards.scale}/test.h5",
        "model": f"{RUN_DIR.format(**wildcards)}/steps/{wildcards.step}.pt",
        "done": f"{RUN_DIR.format(**wildcards)}/train.done",  # train.smk: the run is up to date
    }


@rule_function
def budget_inputs(wildcards):
    """Every trained run's step metrics and run.json, (weights: last) its main metrics, the
    untrained baselines' metrics (the figure's dashed reference lines) and, with tuned losses, the
    grid points' validation metrics (the budget follows the selected point of each)."""
    trained = [run_dir(run) for run in study.runs() if run.trained]
    inputs = {
        "steps": [f"{d}/steps/{n}/metrics.csv" for d in trained for n in BUDGET_STEPS],
        "records": [f"{d}/run.json" for d in trained],
        "baselines": [f"{run_dir(run)}/metrics.csv" for run in study.runs() if not run.trained],
    }
    if config["evaluation"]["weights"] == "last":  # model_best.pt is not a step of the budget
        inputs["final"] = [f"{d}/metrics.csv" for d in trained]
    tuned = tuned_val_metrics()
    if tuned:
        inputs["val"] = tuned
    return inputs
