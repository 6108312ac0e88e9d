#!/usr/bin/env bash
# Snakemake runs this inside the new conda environment, from the workflow's working directory
# (the repository root when you run snakemake there): install srloss itself into the environment.
set -euo pipefail
root="${SRLOSS_ROOT:-$PWD}"
if [ ! -f "$root/pyproject.toml" ]; then
  echo "envs/srloss.post-deploy.sh: no pyproject.toml in $root; run snakemake from the srloss checkout or set SRLOSS_ROOT" >&2
  exit 1
fi
python -m pip install --no-deps -e "$root"
