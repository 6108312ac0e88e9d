# srloss: which loss function should I train my super-resolution model with?
# Usage: snakemake --cores all                       (the demo study in config.yaml)
#        snakemake --cores all --configfile my.yaml  (another study)
import gc
import sys

from snakemake.utils import min_version

from srloss.study import exit_on_config_error, load_study

min_version("9.0")


# The study is read by srloss's one entry point (srloss.study.load_study, as `srloss check` does):
# YAML errors with file, line and column, duplicate keys refused, `--config` values read as YAML,
# the schema generated from srloss's declarations (workflow/schemas/config.schema.yaml) with its
# defaults filled in, then the checks a schema cannot make. A config error is one line naming the
# file or key, before any job runs; the checked study replaces Snakemake's own reading of it.
CACHE_DIR = ".snakemake/srloss"  # what a parse keeps for the next: checked configs, digests, code hashes
with exit_on_config_error():
    study = load_study(
        workflow.overwrite_configfiles or ["config.yaml"],
        workflow.config_settings.config_args,
        cache_dir=CACHE_DIR,  # the cache spares each parse the torch import
        schema=f"{workflow.basedir}/workflow/schemas/config.schema.yaml",
    )
config.clear()
config.update(study.config)
if workflow.is_main_process:  # once per run, not in every cluster job's log
    for warning in study.warnings():
        print(f"srloss: warning: {warning}", file=sys.stderr)


include: "workflow/rules/common.smk"
include: "workflow/rules/fetch.smk"
include: "workflow/rules/prepare.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/aggregate.smk"
include: "workflow/rules/weights.smk"
include: "workflow/rules/budget.smk"


# The report opens on the verdict: the front page the aggregate job writes (srloss.report.landing:
# one paragraph per cell, the tables inline, the figure guide, then workflow/report/workflow.rst),
# or, before any aggregate, the conventions alone.
report: front_page()


rule all:
    default_target: True
    input:
        rules.aggregate.output,
        rules.budget.output if BUDGET_STEPS else [],


# What the parse made (srloss's modules, the study, the rules) lives as long as the process: frozen,
# the garbage collections of planning thousands of jobs no longer scan it again each time (a
# twentieth of a 10,000-run dry run). The cost: a cycle among these objects that later becomes
# garbage is never collected (a process that parses the workflow many times keeps each parse).
gc.freeze()
