# Tsunagu: `make run` starts the whole system on embedded defaults, `make test` runs the suite,
# `make lint` runs ruff and mypy.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
OIDC_STAMP := tests/oidc/node_modules/.installed
TS_EXAMPLE_STAMP := examples/integrator-ts/node_modules/.installed
TS_CLIENT_STAMP := clients/typescript/node_modules/.installed

.PHONY: run test lint test-sqlite test-postgres bench soak soak-ha openapi install browser clean

# One environment for running and developing: the tests and linters need the dev pins.
$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.txt
	$(BIN)/pip install --quiet --no-deps -e .
	touch $(STAMP)

install: $(STAMP) $(OIDC_STAMP) $(TS_EXAMPLE_STAMP) $(TS_CLIENT_STAMP)

# The OpenID Connect provider the token tests start (tests/oidc, `oidc-provider` pinned by its
# package-lock.json), in tests/oidc/node_modules. Without npm those tests skip, and fail in CI.
$(OIDC_STAMP): tests/oidc/package.json tests/oidc/package-lock.json
	@if command -v npm >/dev/null 2>&1; then \
	  npm ci --prefix tests/oidc --no-audit --no-fund --loglevel=error && touch $(OIDC_STAMP); \
	else echo "npm missing: the OIDC provider tests (tests/e2e/test_oidc_issuer.py) will be skipped"; fi

# The TypeScript example integrator (examples/integrator-ts: the `nats` client and `typescript`,
# pinned by its package-lock.json), built to its dist/; its test skips without npm, and fails in CI.
$(TS_EXAMPLE_STAMP): examples/integrator-ts/package.json examples/integrator-ts/package-lock.json examples/integrator-ts/integrator.ts
	@if command -v npm >/dev/null 2>&1; then \
	  npm ci --prefix examples/integrator-ts --no-audit --no-fund --loglevel=error \
	  && npm run --prefix examples/integrator-ts --silent build && touch $(TS_EXAMPLE_STAMP); \
	else echo "npm missing: the TypeScript integrator test (tests/contract/test_example_integrator_ts.py) will be skipped"; fi

# The TypeScript client's tools (clients/typescript: openapi-typescript, openapi-fetch, tsc, pinned by
# its package-lock.json). Without npm tests/clients/test_typescript_client.py skips, and fails in CI.
$(TS_CLIENT_STAMP): clients/typescript/package.json clients/typescript/package-lock.json
	@if command -v npm >/dev/null 2>&1; then \
	  npm ci --prefix clients/typescript --no-audit --no-fund --loglevel=error && touch $(TS_CLIENT_STAMP); \
	else echo "npm missing: the TypeScript client test (tests/clients/test_typescript_client.py) will be skipped"; fi

# Debian's Chromium and a CJK font for the dashboard's browser test (no browser download).
# Installed when missing and we may (root); otherwise that one test says it was skipped.
browser:
	@if ! command -v chromium >/dev/null 2>&1 || ! fc-list 2>/dev/null | grep -qi "noto sans cjk"; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-noto-cjk >/dev/null) \
	      || echo "could not install chromium: the dashboard browser test will be skipped"; \
	  else echo "chromium missing and not root: the dashboard browser test will be skipped"; fi; \
	fi

run: $(STAMP)
	$(BIN)/tsunagu run

# The whole suite on SQLite and, side by side, on PostgreSQL when one answers (CI requires it), each
# pass in worker processes (pytest-xdist); tests/runner.py says how.
test: $(STAMP) $(OIDC_STAMP) $(TS_EXAMPLE_STAMP) $(TS_CLIENT_STAMP) browser
	$(BIN)/python -m tests.runner

# What to check is configured in pyproject.toml; LINT_PATHS narrows ruff's run and MYPY_PATHS
# mypy's (default: its configured files). Both always run, so one CI log shows every finding.
LINT_PATHS ?= .
MYPY_PATHS ?=
lint: $(STAMP)
	@status=0; \
	$(BIN)/ruff check $(LINT_PATHS) || status=1; \
	$(BIN)/mypy $(MYPY_PATHS) || status=1; \
	exit $$status

test-sqlite: $(STAMP) $(OIDC_STAMP) $(TS_EXAMPLE_STAMP) $(TS_CLIENT_STAMP)
	$(BIN)/python -m pytest

test-postgres: $(STAMP) $(OIDC_STAMP) $(TS_EXAMPLE_STAMP) $(TS_CLIENT_STAMP)
	TSUNAGU_TEST_DB=postgresql $(BIN)/python -m pytest

# Issue 15's goals: each benchmark measures on SQLite and PostgreSQL and writes its rows to
# bench/results/; the last step prints them as one table, each ratio beside its goal.
# The services' allocator as deployed (libs/platform/memory.py): glibc reads it when a process starts.
bench: export MALLOC_ARENA_MAX := 2
bench: $(STAMP)
	$(BIN)/python -m bench.consultations
	$(BIN)/python -m bench.reports
	$(BIN)/python -m bench.memory
	$(BIN)/python -m bench.lag
	$(BIN)/python -m bench.rebuild
	$(BIN)/python -m bench.relay
	$(BIN)/python -m bench.rebuild --postgres
	$(BIN)/python -m bench.imports
	$(BIN)/python -m bench.goals

# Load on real processes while they are killed, paused and cut off (PostgreSQL at
# TSUNAGU_TEST_POSTGRES_URL, nats-servers of its own on loopback): a table of lost / duplicated /
# stuck / seconds to recover per fault, exit 1 on any. `make soak SOAK_ARGS=--short`: the CI size.
soak: $(STAMP)
	$(BIN)/python -m soak $(SOAK_ARGS)

# Replicas under faults (issue 16): 2 replicas of each service on PostgreSQL and the 3-node NATS
# cluster, under load; kill -9 and SIGSTOP of lease holders, NATS node restarts, a roll of every
# service. Prints event x seconds without a leader x requests failed x lost x duplicated.
soak-ha: $(STAMP)
	$(BIN)/python -m soak.ha $(SOAK_HA_ARGS)

openapi: $(STAMP)
	$(BIN)/tsunagu openapi --write

clean:
	rm -rf $(VENV) var
