# The few commands people type. `make run` and `make test` create .venv when it is missing,
# install from the locks in requirements/ (again only when a lock or pyproject.toml changed) and
# then start the hub or run the suite; `make test` also installs the system packages the suite
# needs (Chromium) or says in one line what to install.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/pip install --no-compile --disable-pip-version-check -q

.PHONY: run test lint system-deps bench lock clean

run: $(VENV)/.installed
	$(BIN)/python app.py

test: $(VENV)/.installed-dev system-deps
	$(BIN)/python -m pytest

# Style, formatting, the layer contract (import-linter) and types of the client side (mypy).
lint: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports --no-cache
	$(BIN)/mypy

system-deps:
	@bash scripts/system_deps.sh

bench: $(VENV)/.installed-dev system-deps
	$(BIN)/python bench/evaluation.py
	$(BIN)/python bench/serving.py   # needs wrk (apt-get install wrk)
	$(BIN)/python bench/leaderboard_page.py
	$(BIN)/python bench/registry.py

# Refresh the locks after changing dependencies in pyproject.toml (see CONTRIBUTING.md).
lock: $(VENV)/.installed-dev
	bash scripts/lock.sh

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml requirements/hub.txt | $(BIN)/python
	$(PIP) -r requirements/hub.txt
	$(PIP) --no-deps -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml requirements/dev.txt | $(BIN)/python
	$(PIP) -r requirements/dev.txt
	$(PIP) --no-deps -e .
	touch $@ $(VENV)/.installed

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .import_linter_cache
