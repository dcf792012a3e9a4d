# Two entry points (see README):  make lab   |   make test
# Both create .venv on first use (and again when pyproject.toml changes).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# JupyterLab refuses to run as root (containers, CI machines) unless told it may.
ROOT_ARGS := $(if $(filter 0,$(shell id -u)),--allow-root,)
# Tests and nbval always run on the embedded sandbox, never on a real Dialpad account.
# make test runs 3 pytest-xdist workers on the 2 cores (--dist loadfile keeps a notebook's cells together):
# about a quarter of 2 workers' time is spent waiting on JupyterLab, Chromium, kernels and servers,
# and a third worker fills it (measured: 262-268 s with 2 workers, 231 s with 3).
OFFLINE := env -u DIALPAD_API_KEY -u DIALPAD_BASE_URL -u DIALPAD_ENV
STAMP  := $(VENV)/.installed-stamp

.PHONY: setup lab test test-min lint lint-quick unit notebooks bench sandbox dashboard clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $(STAMP)

setup: $(STAMP)

## Open JupyterLab on notebooks/ (the notebooks start an embedded sandbox unless DIALPAD_API_KEY is set)
lab: $(STAMP)
	$(BIN)/jupyter lab --notebook-dir=notebooks $(ROOT_ARGS) $(LAB_ARGS)

## Every test: lint (ruff, format, mypy, the layer contract), unit + integration (real HTTP on
## loopback), nbval on every notebook, the widgets in a real JupyterLab in headless chromium
## (tests/browser; chromium installed first if missing). mypy (~26 s on a fresh clone's cold
## cache) runs beside pytest, not before it; both must pass.
test: lint-quick
	scripts/ensure-chromium
	@types_log=$$(mktemp); $(BIN)/mypy > $$types_log 2>&1 & types_pid=$$!; \
	$(OFFLINE) $(BIN)/python -m pytest tests notebooks --nbval --nbval-current-env \
	    --nbval-sanitize-with notebooks/sanitize.cfg -n 3 --dist loadfile $(PYTEST_ARGS); tests=$$?; \
	wait $$types_pid; types=$$?; echo "mypy:"; cat $$types_log; rm -f $$types_log; \
	test $$tests -eq 0 -a $$types -eq 0

## The unit tests (no browser) on the LOWEST version pyproject.toml allows of every runtime
## dependency, in a separate venv (.venv-min): proves the floors. Not part of make test (~5 min).
test-min:
	scripts/test-min

## Static checks: ruff (lint + format), mypy with pandas-stubs, import-linter's layer contract
lint: lint-quick
	$(BIN)/mypy

lint-quick: $(STAMP)
	$(BIN)/ruff check dialpad_nb tests benchmarks
	$(BIN)/ruff format --check dialpad_nb tests benchmarks
	$(BIN)/lint-imports

unit: $(STAMP)
	$(OFFLINE) $(BIN)/python -m pytest tests $(PYTEST_ARGS)

notebooks: $(STAMP)
	$(OFFLINE) $(BIN)/python -m pytest notebooks --nbval --nbval-current-env --nbval-sanitize-with notebooks/sanitize.cfg

## Re-execute every notebook in place (after a deliberate change of output)
execute-notebooks: $(STAMP)
	for nb in notebooks/*.ipynb; do $(OFFLINE) $(BIN)/jupyter nbconvert --to notebook --execute --inplace "$$nb" || exit 1; done

bench: $(STAMP)
	for b in benchmarks/bench_*.py; do $(BIN)/python "$$b" || exit 1; done

sandbox: $(STAMP)
	$(BIN)/dialpad-nb sandbox

## The ops dashboard (Voila, no code shown) on http://127.0.0.1:8866/ over the routers that
## DIALPAD_API_KEY / DIALPAD_BASE_URL name (unset: an empty embedded sandbox). Sample traffic only
## when asked: make dashboard DASHBOARD_ARGS=--demo
dashboard: $(STAMP)
	$(BIN)/dialpad-nb dashboard $(DASHBOARD_ARGS)

clean:
	rm -rf $(VENV) .venv-min .pytest_cache .ruff_cache .hypothesis
