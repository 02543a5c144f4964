# Safehold: every target bootstraps .venv first (python3 -m venv + pip, pinned).
VENV    ?= .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed-stamp
PYTHON3 ?= python3

.PHONY: install run test bench lint clean

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON3) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

## Start Prefect server + UI (:4200), the flow runner and the API (:8776); data in ./var
run: install
	$(BIN)/safehold run

## The whole test suite (unit, storage contract incl. S3 on moto, PostgreSQL, end-to-end)
test: install
	$(BIN)/pytest -q -n 2 --dist loadgroup

## Benchmarks: Safehold vs restic/borg and the machine's raw sha256/zstd speed
bench: install
	$(BIN)/python -m tests.bench

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache .mypy_cache .ruff_cache
