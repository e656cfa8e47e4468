# Zixly: `make run` starts everything on the embedded defaults; `make test` runs the suite.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: run test test-slow check bench clean help

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.app-installed: requirements.txt | $(BIN)/python
	$(BIN)/pip install -q -r requirements.txt
	touch $@

$(VENV)/.dev-installed: requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/pip install -q -r requirements-dev.txt
	touch $@ $(VENV)/.app-installed

run: $(VENV)/.app-installed ## set up, migrate, seed the demo and start every process
	$(BIN)/python -m db upgrade
	$(BIN)/python -m db seed-demo
	@echo ""
	@echo "  webhook    http://127.0.0.1:3000/health"
	@echo "  dashboard  http://127.0.0.1:8501   (demo login: admin@zixly.local / zixly-demo)"
	@echo "  sandbox    http://127.0.0.1:3900"
	@echo "  runner     metrics on http://127.0.0.1:9102/metrics"
	@echo "  Ctrl-C stops all of them."
	@echo ""
	@# No secrets to export: outside production the listener verifies with the sandbox's development keys.
	PATH="$(CURDIR)/$(BIN):$$PATH" ZIXLY_SANDBOX_EVENTS_PER_MIN=$${ZIXLY_SANDBOX_EVENTS_PER_MIN:-6} \
		$(BIN)/honcho start -f Procfile

test: $(VENV)/.dev-installed ## run the test suite (SQLite and PostgreSQL)
	$(BIN)/python -m pytest -m "not slow"

test-slow: $(VENV)/.dev-installed ## the long soak and fault runs
	$(BIN)/python -m pytest -m slow

check: $(VENV)/.dev-installed ## lint and type-check
	$(BIN)/ruff check .
	$(BIN)/mypy .

clean: ## remove the embedded database and blobs
	rm -rf var
