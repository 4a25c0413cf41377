# Tsunagu: `make run` starts the whole system on embedded defaults, `make test` runs the suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test test-sqlite test-postgres bench openapi install clean

$(STAMP): requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.txt
	$(BIN)/pip install --quiet --no-deps -e .
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/tsunagu run

# The whole suite on SQLite, then on PostgreSQL when one answers (CI requires it).
test: $(STAMP)
	$(BIN)/python -m tests.runner

test-sqlite: $(STAMP)
	$(BIN)/python -m pytest

test-postgres: $(STAMP)
	TSUNAGU_TEST_DB=postgresql $(BIN)/python -m pytest

bench: $(STAMP)
	$(BIN)/python -m bench.consultations

openapi: $(STAMP)
	$(BIN)/tsunagu openapi --write

clean:
	rm -rf $(VENV) var
