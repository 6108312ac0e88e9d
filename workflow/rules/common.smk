# Shared definitions: the validated study, its grid, and output paths.
from srloss.codehash import stage_hashes
from srloss.config import Study, exit_on_config_error, to_json

with exit_on_config_error():  # a config error is one line, before any job runs
    study = Study(config, cache_dir=".snakemake/srloss")  # the cache spares each parse the torch import
RESULTS = f"results/{study.name}"
RUN_DIR = RESULTS + "/runs/{dataset}/{model}/{loss}/x{scale}/seed{seed}"
RUN_ID = "{dataset}/{model}/{loss}/x{scale}/seed{seed}"
# Hash of the srloss sources each stage imports, one `code` param per rule: editing a library
# module reruns exactly the stages that import it (policy in srloss.codehash, README "What reruns when").
CODE = stage_hashes()


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
