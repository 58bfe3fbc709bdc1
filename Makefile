# The two commands of the README: `make run` and `make test`. Both create (or reuse) .venv.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
STAMP := $(VENV)/.installed
# The embedded Redis runs only when no external one is configured; the sandbox provider always (docs/sandbox.md);
# webhooks is the receiver the sandbox posts its callbacks to (docs/feedback.md).
PROCESSES := $(if $(REDIS_URL),web webhooks worker sandbox,redis web webhooks worker sandbox)

.PHONY: run test lint install translations clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/flask --app app db upgrade
	$(BIN)/flask --app app users bootstrap
	$(BIN)/flask --app app campaigns sender ensure-sandbox
	PATH="$(BIN):$$PATH" $(BIN)/python run.py --procfile Procfile start $(PROCESSES)

# In parallel, two xdist workers per core (each with its own Redis server and PostgreSQL database):
# much of the suite waits on the worker processes it starts, on PostgreSQL and on Redis, and two per
# core finished in 5:05 on 2 cores against 6:04 with one per core. TEST_WORKERS=0 runs in one process.
TEST_WORKERS ?= $(shell $(PYTHON) -c 'import os; print(2 * (os.cpu_count() or 1))')
test: $(STAMP)
	$(BIN)/pytest -n $(TEST_WORKERS) $(PYTEST_ARGS)

# The style (ruff) and the layering contracts of .importlinter; both part of .ci/run.
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/lint-imports --config .importlinter

# Re-extract the UI strings after changing them, then translate in translations/ru/LC_MESSAGES/messages.po.
translations: $(STAMP)
	$(BIN)/pybabel extract -F babel.cfg -k _l -k lazy_gettext -o translations/messages.pot .
	$(BIN)/pybabel update -i translations/messages.pot -d translations --no-fuzzy-matching
	$(BIN)/pybabel compile -d translations --statistics

clean:
	rm -rf $(VENV) .pytest_cache
