# Shared definitions: the validated study, its grid, and output paths.
from srloss.config import Study, to_json

study = Study(config)
RESULTS = f"results/{study.name}"
RUN_DIR = RESULTS + "/runs/{dataset}/{model}/{loss}/x{scale}/seed{seed}"
RUN_ID = "{dataset}/{model}/{loss}/x{scale}/seed{seed}"


wildcard_constraints:
    dataset="[^/]+",
    model="[^/]+",
    loss="[^/]+",
    scale="[0-9]+",
    seed="[0-9]+",
    split="train|val|test",


def run_of(wildcards):
    from srloss.config import Run

    return Run(wildcards.dataset, wildcards.model, wildcards.loss, int(wildcards.scale), int(wildcards.seed))


def run_spec_json(wildcards):
    return to_json(study.run_spec(run_of(wildcards)))


localrules:
    all,
    aggregate,
