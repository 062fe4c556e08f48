# Quick start: `make demo` and `make test` work on a fresh machine with python3 (3.10+) and pip.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.taskguard-installed

.PHONY: demo test lint bench clean

# The dev tools are a PEP 735 dependency group: `pip install --group` needs pip 25.1 or newer.
# Before 0.2.0 the distribution was called taskguard: an editable install of it left in an
# older .venv would provide the same packages and entry points a second time, so it goes.
# taskguard/_version.py holds the version: the installed metadata follows it.
$(STAMP): pyproject.toml taskguard/_version.py
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else "taskguard needs Python 3.10 or newer")'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet 'pip>=25.1'
	@$(BIN)/python -m pip uninstall --quiet --yes taskguard 2>/dev/null || true
	$(BIN)/python -m pip install --quiet -e '.[cloud]' --group dev
	@touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m examples.demo

test: $(STAMP)
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy --strict taskguard dispatch

clean:
	rm -rf $(VENV) .taskguard_cache .pytest_cache .mypy_cache .ruff_cache
