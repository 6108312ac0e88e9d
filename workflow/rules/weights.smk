# Pretrained feature extractors (torchvision ImageNet checkpoints) for the study's loss terms.
# `snakemake fetch_weights --cores 1` downloads exactly the files the config's losses need into
# <TORCH_HOME>/hub/checkpoints/ (torch hub's layout), on the machine that has internet, so
# training jobs elsewhere (e.g. SLURM nodes) find them. TORCH_HOME is resources/weights unless
# it is already set; every job inherits it. Terms with `backbone_weights: random` need nothing.
# Which files a loss loads comes from the study (its loss terms declare their backbones), which
# caches the answer with its config check, so this parse imports no torch.
import os
import re
from pathlib import Path

from srloss.weights import LPIPS_TRUNKS, WEIGHT_FILES, WORKFLOW_TORCH_HOME

WEIGHTS_HOME = os.environ.get("TORCH_HOME") or WORKFLOW_TORCH_HOME
os.environ["TORCH_HOME"] = os.path.abspath(WEIGHTS_HOME)


envvars:
    "TORCH_HOME",  # passed on to jobs on remote executors too


WEIGHTS_DIR = WEIGHTS_HOME + "/hub/checkpoints"
BACKBONE_OF_FILE = {wf.file: name for name, wf in WEIGHT_FILES.items()}


def weight_files(backbones):
    return [f"{WEIGHTS_DIR}/{WEIGHT_FILES[b].file}" for b in backbones]


def run_weight_files(wildcards):
    """The weight files one run's loss loads (an input function for the train rule)."""
    run = run_of(wildcards)
    return weight_files(study.loss_backbones(run.loss)) if run.trained else []


# The LPIPS metric's trunks (evaluation), fetched too so `fetch_weights` gets all a study needs;
# evaluation does not require them (without them LPIPS is reported missing, with the reason).
EVALUATION_BACKBONES = (
    {LPIPS_TRUNKS[net] for net in config["evaluation"]["lpips"]["nets"]}
    if "lpips" in config["evaluation"]["metrics"] and not config["evaluation"]["lpips"]["random_backbone"]
    else set()
)
STUDY_BACKBONES = sorted(set(study.backbones()) | EVALUATION_BACKBONES)


rule fetch_weights:
    input:
        weight_files(STUDY_BACKBONES),


rule fetch_weight:
    output:
        WEIGHTS_DIR + "/{weight_file}",
    log:
        RESULTS + "/logs/fetch_weight/{weight_file}.log",
    benchmark:
        RESULTS + "/benchmarks/fetch_weight/{weight_file}.tsv"
    wildcard_constraints:
        weight_file="|".join(re.escape(f) for f in BACKBONE_OF_FILE),
    conda:
        "../../envs/srloss.yaml"
    params:
        backbone=lambda w: BACKBONE_OF_FILE[w.weight_file],
        torch_home=lambda w, output: Path(output[0]).parents[2],  # <home>/hub/checkpoints/<file>
    shell:
        "srloss fetch-weights {params.backbone} --torch-home {params.torch_home:q} > {log} 2>&1"


localrules:
    fetch_weights,
    fetch_weight,
