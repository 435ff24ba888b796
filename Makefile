# Set-up and the two entry points. Only Python 3.11+ and the package registries are needed.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
# The compiled modules of the policy walk (mypyc; pure Python without a C compiler).
NATIVE := sim/engine/native.json
NATIVE_SOURCES := sim/billing/ledger.py sim/billing/account.py sim/engine/world.py \
	sim/engine/lean_walk.py sim/engine/results.py sim/core/native.py

.PHONY: run test lint typecheck pytest venv clean browser native

venv: $(STAMP) $(NATIVE)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

## Compile the policy walk's modules again when their sources change (sim/core/native.py).
native: $(NATIVE)

$(NATIVE): $(STAMP) $(NATIVE_SOURCES)
	$(BIN)/python -m sim.core.native

## The main job on the default scenario.
run: venv
	$(BIN)/ccsim run scenarios/default.toml

## Everything CI runs: lint, type check, every test tier (notebooks and browser included).
test: venv browser lint typecheck pytest

## Headless Chromium for the report-page tests (Debian packages; installed when missing).
browser:
	@if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then :; \
	elif command -v apt-get >/dev/null; then \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
		$$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
			chromium chromium-driver; \
	else echo "make browser: install Chromium and chromedriver (no apt-get here)" >&2; fi

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports --no-cache

typecheck: venv
	$(BIN)/mypy

pytest: venv
	$(BIN)/python -m pytest -n auto --dist loadfile

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis .import_linter_cache build
	rm -f sim/*/*.so sim/*/*.pyd sim/*/native.json
