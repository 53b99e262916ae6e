# Two commands do all set-up: `make report` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
NBVAL  := --nbval --nbval-current-env --nbval-sanitize-with tests/nbval_sanitize.cfg
# The analyst notebooks are package data (syncstats/report/notebooks), committed executed.
NOTEBOOKS := syncstats/report/notebooks/batch_summary.ipynb syncstats/report/notebooks/dlq_triage.ipynb

.PHONY: install test lint docs report summary notebooks bench bench-quick data clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "syncstats needs Python 3.11+, found " + sys.version)'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,dask,docs,bench]'
	@touch $(STAMP)

install: $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check .

# The documentation site (docs/_build/html); warnings are errors. No notebook is executed.
docs: $(STAMP)
	$(BIN)/python -m sphinx -W --keep-going -b html -q docs docs/_build/html

# The docs, then unit tests, doctests and strict nbval of the committed notebooks, in one
# pytest run.
test: lint docs
	$(BIN)/python -m pytest tests syncstats $(NBVAL)

# The HTML report of data/ (reports/ is git-ignored).
report: $(STAMP)
	$(BIN)/syncstats report data --now latest --out reports/batch_summary.html

summary: $(STAMP)
	$(BIN)/syncstats summary data --window 7d --now latest

# Re-execute the notebooks in place (after a change to the package or to data/).
notebooks: $(STAMP)
	for nb in $(NOTEBOOKS); do \
	  $(BIN)/python -m syncstats.report $$nb || exit 1; \
	done

# Regenerate the committed sample data (deterministic).
data: $(STAMP)
	$(BIN)/syncstats simulate data --overwrite

bench: $(STAMP)
	$(BIN)/python benchmarks/bench.py $(BENCH_ARGS)

bench-quick: $(STAMP)
	$(BIN)/python benchmarks/bench.py --quick $(BENCH_ARGS)

clean:
	rm -rf $(VENV) reports .pytest_cache .ruff_cache .hypothesis docs/_build docs/api/generated
