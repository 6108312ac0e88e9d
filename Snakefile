# srloss: which loss function should I train my super-resolution model with?
# Usage: snakemake --cores all                       (the demo study in config.yaml)
#        snakemake --cores all --configfile my.yaml  (another study)
from snakemake.utils import min_version, validate

from srloss.study import check_schema, exit_on_config_error, reread_config

min_version("9.0")

CONFIGFILES = workflow.overwrite_configfiles or ["config.yaml"]
# srloss's YAML loader first: syntax errors with file, line and column, duplicate keys refused, 1e-3 a number
with exit_on_config_error():
    reread_config(config, CONFIGFILES, workflow.config_settings.config)
if not workflow.overwrite_configfiles:

    configfile: "config.yaml"

    reread_config(config, CONFIGFILES, workflow.config_settings.config)


with exit_on_config_error():  # one line naming the key (snakemake's validate prints the whole schema)
    check_schema(config, f"{workflow.basedir}/workflow/schemas/config.schema.yaml")


validate(config, "workflow/schemas/config.schema.yaml")  # fills the schema's defaults


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/fetch.smk"
include: "workflow/rules/prepare.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/aggregate.smk"
include: "workflow/rules/weights.smk"
include: "workflow/rules/budget.smk"


rule all:
    default_target: True
    input:
        rules.aggregate.output,
        rules.budget.output if BUDGET_STEPS else [],
