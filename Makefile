# The two commands of the README, and the steps they are made of. Each creates the virtual
# environment on first use (and again when settings.ini, where every pin lives, changes).
# A Python with wheels for every dependency first: whylogs-sketching has none past 3.12.
PYTHON ?= $(shell command -v python3.11 || command -v python3.12 || command -v python3)
NEW_PYTHON = $(shell $(PYTHON) -c 'import sys; print(int(sys.version_info >= (3, 13)))' 2>/dev/null)
VENV ?= .venv
BIN := $(VENV)/bin
DEMO ?= demo

.PHONY: demo test check-sync lint nbtest pytest bench lab docs clean-venv help
help:
	@echo "make demo    run the demo (creates $(VENV) on first use)"
	@echo "make test    notebooks in sync and clean, lint, notebook tests, pytest"
	@echo "make bench   benchmarks (results in bench/results/)"
	@echo "make lab     JupyterLab on nbs/ (the project installed in its kernel)"
	@echo "make docs    the documentation site in _docs/ (pipeline notebooks from the latest runs in reports/)"

$(BIN)/.installed: settings.ini setup.py
	@if [ "$(NEW_PYTHON)" = 1 ]; then echo "mlpuzzle: $(PYTHON) is Python 3.13 or newer, for which whylogs-sketching has \
	no wheel: pip now builds it from source (a C++ compiler and cmake, about 8 minutes). To skip that, install \
	Python 3.12 or 3.11 and run again with PYTHON=python3.12."; fi
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install $(if $(filter 1,$(NEW_PYTHON)),--progress-bar on -v,--quiet) -e '.[dev]'
	@touch $@

demo: $(BIN)/.installed
	$(BIN)/mlpuzzle demo $(DEMO)

test: check-sync lint nbtest pytest

# Fails when nbdev_export or nbdev_clean would change a notebook or a generated module.
check-sync: $(BIN)/.installed
	$(BIN)/python .ci/sync_check.py $(BIN)

# ruff on the exported package (pyproject.toml's [tool.ruff]): no unused import, no undefined name, no line over
# 130 characters; then no line over 120 but nbdev's `__all__` first lines (.ci/line_length.py says why).
lint: $(BIN)/.installed
	$(BIN)/ruff check --quiet mlpuzzle
	$(BIN)/python .ci/line_length.py mlpuzzle

# One OpenMP thread per process: notebooks (and tests) run two at a time, and two fits each spinning one
# thread per core slow each other down many times over on a small machine.
nbtest: $(BIN)/.installed
	OMP_NUM_THREADS=1 $(BIN)/nbdev_test --n_workers 2

# One worker per core, each test file on one worker (module fixtures such as the demo's run are built once), the
# heaviest files first (tests/conftest.py orders them).
pytest: $(BIN)/.installed
	OMP_NUM_THREADS=1 $(BIN)/python -m pytest tests/ -q -n auto --dist loadfile --no-loadscope-reorder --durations=15

bench: $(BIN)/.installed
	$(BIN)/python bench/run_overhead.py
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/serve.py
	$(BIN)/python bench/profiling.py
	$(BIN)/python bench/scenarios.py
	$(BIN)/python bench/scale.py
	$(BIN)/python bench/replay.py --report

# As root (a container, often), Jupyter wants to be told it is meant.
lab: $(BIN)/.installed
	$(BIN)/jupyter lab nbs/ $(if $(filter 0,$(shell id -u)),--allow-root) $(LAB_ARGS)

docs: $(BIN)/.installed
	$(BIN)/mlpuzzle docs

clean-venv:
	rm -rf $(VENV)
