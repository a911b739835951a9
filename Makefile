# The two commands of the quickstart: `make demo` and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Every runtime and dev dependency pinned with its hashes, for Python 3.11 on Linux x86_64.
LOCK := requirements.lock
# The resolver `make lock` runs, from a throwaway virtualenv so it never enters .venv.
UV_VERSION := 0.13.8
# `make lock LOCK_ARGS=--upgrade` moves every pin to the newest allowed release;
# without it, pins already in the lock are kept wherever pyproject still allows them.
LOCK_ARGS ?=

.PHONY: demo test lint pytest venv lock clean

# The pinned set first, then kaimen itself without resolving again; `pip check` fails
# when pyproject asks for something the lock does not hold (run `make lock`). uv (pinned)
# installs the locked set in seconds where pip takes most of a minute; hashes are checked
# all the same.
$(STAMP): $(LOCK) pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet uv==$(UV_VERSION)
	$(BIN)/uv pip install --quiet --python $(BIN)/python --require-hashes -r $(LOCK)
	$(BIN)/uv pip install --quiet --python $(BIN)/python --no-deps -e .
	$(BIN)/python -m pip check
	touch $(STAMP)

venv: $(STAMP)

lock:
	tools=$$(mktemp -d) && trap 'rm -rf "$$tools"' EXIT && \
	$(PYTHON) -m venv "$$tools" && \
	"$$tools/bin/python" -m pip install --quiet uv==$(UV_VERSION) && \
	"$$tools/bin/uv" pip compile pyproject.toml --extra dev --extra spark --python-version 3.11 \
		--python-platform x86_64-unknown-linux-gnu --generate-hashes \
		--custom-compile-command 'make lock' $(LOCK_ARGS) --quiet -o $(LOCK)

demo: $(STAMP)
	$(BIN)/kaimen demo

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy
	$(BIN)/lint-imports

pytest: $(STAMP)
	$(BIN)/pytest

test: lint pytest

clean:
	rm -rf $(VENV) .kaimen .pytest_cache .mypy_cache .ruff_cache
