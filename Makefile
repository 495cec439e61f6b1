# Two commands: `make run` and `make test`. Both build their own .venv from python3.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
CONTRACT := tools/contract
BROWSER  := tools/browser

# The suite runs every test on SQLite and on PostgreSQL (and Redis where used).
# CI points these at its services; on a machine without them, set ASTERI_TEST_BACKENDS=sqlite.
export ASTERI_TEST_POSTGRES_URL ?= postgresql://postgres@127.0.0.1:5432/test
export ASTERI_TEST_REDIS_URL    ?= redis://127.0.0.1:6379/0

.PHONY: install run test lint lint-contract format sdl contracts bench bench-auth bench-hostile bench-webhooks clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

run: install
	$(BIN)/asteri db upgrade
	$(BIN)/asteri demo
	$(BIN)/asteri serve --host 127.0.0.1 --port 8000

# Everything we run is linted and type-checked: the package, its tests and its benchmarks.
lint: install
	$(BIN)/ruff check asteri tests benchmarks
	$(BIN)/ruff format --check asteri tests benchmarks
	$(BIN)/mypy asteri tests benchmarks

test: install lint lint-contract $(BROWSER)/node_modules/.installed
	$(BIN)/pytest -q

# The committed OpenAPI document (a test holds it equal to the code's) through the linters an
# integrator reaches for, pinned in tools/contract/package-lock.json: Redocly's strict
# recommended rules and Spectral's spectral:oas, warnings included.
$(CONTRACT)/node_modules/.installed: $(CONTRACT)/package-lock.json
	npm ci --prefix $(CONTRACT) --no-audit --no-fund --loglevel=error
	touch $@

# What the real-browser tests inject into pages (axe-core), pinned in tools/browser/package-lock.json.
# The browser itself is Debian's Chromium (.ci/run installs it); Playwright drives it.
$(BROWSER)/node_modules/.installed: $(BROWSER)/package-lock.json
	npm ci --prefix $(BROWSER) --no-audit --no-fund --loglevel=error
	touch $@

lint-contract: $(CONTRACT)/node_modules/.installed
	$(CONTRACT)/node_modules/.bin/redocly lint --config $(CONTRACT)/redocly.yaml asteri/rest_facade/openapi.json
	$(CONTRACT)/node_modules/.bin/spectral lint --ruleset $(CONTRACT)/.spectral.yaml --fail-severity=warn asteri/rest_facade/openapi.json

format: install
	$(BIN)/ruff check --fix asteri tests benchmarks
	$(BIN)/ruff format asteri tests benchmarks

# Regenerate the committed contract snapshots (SDL, OpenAPI and the event catalogue) after a deliberate change.
sdl: contracts
contracts: install
	$(BIN)/asteri schema print > asteri/schema/schema.graphql
	$(BIN)/asteri schema openapi > asteri/rest_facade/openapi.json
	$(BIN)/asteri schema events > asteri/rest_facade/event_types.json

# REST and GraphQL throughput/latency vs bare psycopg and strawberry-default baselines (PostgreSQL; not in `test`).
bench: install
	$(BIN)/python benchmarks/run.py

# Keyed reads alone and while hostile GraphQL documents are refused (PostgreSQL; not in `test`).
bench-hostile: install
	$(BIN)/python benchmarks/hostile_documents.py

# Authentication + rate limiting per request, in process and with Redis, as a share of a point read.
# Webhook delivery, commit → 2xx at a local receiver: events/s with 1 and 2 workers, p99 latency.
bench-webhooks: install
	$(BIN)/python benchmarks/webhooks.py

bench-auth: install
	$(BIN)/python benchmarks/auth_cost.py

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache .mypy_cache .ruff_cache $(CONTRACT)/node_modules $(BROWSER)/node_modules
