# srloss: which loss function should I train my super-resolution model with?
# Usage: snakemake --cores all                       (the demo study in config.yaml)
#        snakemake --cores all --configfile my.yaml  (another study)
from snakemake.utils import min_version, validate

min_version("9.0")

if not workflow.overwrite_configfiles:
    configfile: "config.yaml"


validate(config, "workflow/schemas/config.schema.yaml")


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/fetch.smk"
include: "workflow/rules/prepare.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/aggregate.smk"
include: "workflow/rules/weights.smk"


rule all:
    input:
        rules.aggregate.output,
    default_target: True
