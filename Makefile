# Zixly: `make run` starts everything on the embedded defaults; `make test` runs the suite.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: run test test-slow check bench-install bench-graphile lock clean help

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# The locks (every package, exact version and hash) are what gets installed; requirements*.txt are
# their human-edited inputs (`make lock` after editing one). Each lock holds the one before it.
$(VENV)/.app-installed: requirements.lock | $(BIN)/python
	$(BIN)/pip install -q --require-hashes -r requirements.lock
	touch $@

$(VENV)/.dev-installed: requirements-dev.lock | $(BIN)/python
	$(BIN)/pip install -q --require-hashes -r requirements-dev.lock
	touch $@ $(VENV)/.app-installed

$(VENV)/.bench-installed: requirements-bench.lock | $(BIN)/python
	$(BIN)/pip install -q --require-hashes -r requirements-bench.lock
	touch $@ $(VENV)/.dev-installed $(VENV)/.app-installed

run: $(VENV)/.app-installed ## set up, migrate, seed the demo and start every process
	$(BIN)/python -m db upgrade
	$(BIN)/python -m demo seed
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

# Two pytest workers (pytest-xdist): much of the suite waits on PostgreSQL's CREATE/DROP DATABASE
# and on real processes booting, so a second worker uses the time one leaves idle.
TEST_WORKERS ?= 2
# PYTHONNODEBUGRANGES: Python 3.11 formats a traceback's ^^^ markers with ast.parse, and a
# traceback logged from a garbage-collected connection's finalizer while the test itself is in
# ast.parse (Werkzeug compiling a route) broke the outer parse: "SystemError: AST constructor
# recursion depth mismatch" (CPython gh-106905), one failed test in a CI run. Without column
# ranges no marker is drawn and ast.parse is never re-entered.
TEST_ENV = PYTHONNODEBUGRANGES=1
test: $(VENV)/.dev-installed ## run the test suite (SQLite and PostgreSQL)
	$(TEST_ENV) $(BIN)/python -m pytest -m "not slow" -n $(TEST_WORKERS)

test-slow: $(VENV)/.dev-installed ## the long soak and fault runs
	$(TEST_ENV) $(BIN)/python -m pytest -m slow

check: $(VENV)/.dev-installed ## lint, format check, import contracts and type-check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/mypy .

bench-install: $(VENV)/.bench-installed ## add the benchmark peers and profilers (then: python bench/<name>.py)

# graphile-worker (Node) is an anchor of bench/job_queue.py only: installed from npm, exactly as
# locked in its own package-lock.json, into a benchmark-only folder (never part of the product).
bench-graphile: ## install graphile-worker for bench/job_queue.py (needs node and npm)
	cd bench/anchors/graphile && npm ci --no-audit --no-fund

# Re-lock after editing requirements*.txt: needs uv (pip install uv). Universal (every OS) for
# Python 3.11; each lock is constrained by the one before it, so they agree on shared versions.
UV      ?= uv
UV_LOCK := $(UV) pip compile --quiet --generate-hashes --universal --python-version 3.11
lock: ## re-lock requirements*.lock from requirements*.txt (needs uv)
	$(UV_LOCK) requirements.txt -o requirements.lock
	$(UV_LOCK) requirements-dev.txt -c requirements.lock -o requirements-dev.lock
	$(UV_LOCK) requirements-bench.txt -c requirements-dev.lock -o requirements-bench.lock

clean: ## remove the embedded database and blobs
	rm -rf var
