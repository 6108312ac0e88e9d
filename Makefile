# The two commands a newcomer needs:
#   make demo   create .venv if needed, install srloss, run the demo study (results/demo/)
#   make test   lint (ruff, snakefmt, snakemake --lint) and the whole test suite, in the same environment
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
CORES ?= all
export PATH := $(abspath $(BIN)):$(PATH)

.PHONY: demo demo-weights test lint install constraints clean-demo readme-numbers

install: $(VENV)/.installed

# Reinstall when the dependencies change. torch/torchvision are pinned in constraints.txt.
$(VENV)/.installed: pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[test]'
	touch $@

demo: install demo-weights
	$(BIN)/snakemake --cores $(CORES) --quiet rules --show-failed-logs

# The pretrained trunk of the demo's LPIPS metric (AlexNet, 233 MB), fetched by the workflow's
# fetch_weights rule into resources/weights. Best effort: offline the demo still runs, its
# tables report LPIPS as missing, and this says so once (details in the rule's log).
demo-weights: install
	@mkdir -p results
	@$(BIN)/snakemake fetch_weights --cores 1 > results/fetch-weights.log 2>&1 \
	  || echo "demo: LPIPS AlexNet weights not fetched (no network?); the demo runs without LPIPS. Details: results/fetch-weights.log"

# Test files run in parallel (pytest-xdist), each file's tests in one process (module fixtures, the
# SLURM cluster of tests/test_slurm.py); at most 4 at once: each may run a workflow on 2 cores.
test: install lint
	$(BIN)/python -m pytest -n auto --maxprocesses 4 --dist loadfile --durations=15

# Lint and format checks; any finding fails `make test`.
lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/snakefmt --check Snakefile workflow/rules/
	$(BIN)/snakemake --lint --cores 1

# The demo's measured times in README.md and bench/demo-timing.md, written from bench/demo-timing.csv
# (record a timed demo there first: bench/readme_numbers.py record; tests/test_readme_numbers.py checks).
readme-numbers: install
	$(BIN)/python bench/readme_numbers.py write

# Refresh the exact pins after changing dependencies in pyproject.toml.
constraints: install
	{ echo '# Exact versions installed by `make` (pip install -c constraints.txt). Regenerate with `make constraints`.'; \
	  $(BIN)/python -m pip freeze --exclude-editable | grep -v '^srloss'; } > constraints.txt

clean-demo:
	rm -rf results/demo
