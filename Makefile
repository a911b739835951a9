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
# `make demo DEMO_ARGS="--port 8001 --people 5000"`: options of `kaimen demo` (see its --help).
DEMO_ARGS ?=

.PHONY: demo test lint pytest venv lock clean browser messages

# Python's bytecode caches are written and read as usual, whatever the shell says: with
# PYTHONDONTWRITEBYTECODE set (some machines set it for every process) every test worker,
# every command a test starts and every server compiled all it imports from source, each
# time (importing the app took 12.8 s of CPU against 5.7 s from the caches). The caches
# are git-ignored (__pycache__/).
unexport PYTHONDONTWRITEBYTECODE

# The pinned set first, then kaimen itself without resolving again; `pip check` fails
# when pyproject asks for something the lock does not hold (run `make lock`). uv (pinned)
# installs the locked set in seconds where pip takes most of a minute; hashes are checked
# all the same. uv writes no bytecode unless asked: compiled once here, in parallel, the
# first test run's workers do not each compile the same libraries.
$(STAMP): $(LOCK) pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet uv==$(UV_VERSION)
	$(BIN)/uv pip install --quiet --python $(BIN)/python --compile-bytecode --require-hashes -r $(LOCK)
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
	$(BIN)/kaimen demo $(DEMO_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy
	$(BIN)/lint-imports

# The browser tests drive Debian's Chromium (never a browser Playwright downloads) and need
# CJK fonts to draw the Chinese pages: installed from Debian's packages when missing, as root
# or through sudo.
BROWSER_PACKAGES := chromium fonts-noto-cjk
browser:
	@if [ ! -x /usr/bin/chromium ] || ! dpkg-query -W -f='$${Status}' fonts-noto-cjk 2>/dev/null | grep -q "ok installed"; then \
		if [ "$$(id -u)" = 0 ]; then SUDO=; \
		elif command -v sudo >/dev/null; then SUDO=sudo; \
		else echo "the browser tests need: apt-get install $(BROWSER_PACKAGES) (as root)" >&2; exit 1; fi; \
		$$SUDO apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $(BROWSER_PACKAGES); \
	fi

pytest: $(STAMP) browser
	$(BIN)/pytest

# The web pages' catalogues: extract every message, then add the new ones to each language's
# .po file (translate them there; a test fails while one is missing). The .po files are the
# only source: they are compiled in memory when the app starts.
WEB := src/kaimen/web
messages: $(STAMP)
	pot=$$(mktemp) && trap 'rm -f "$$pot"' EXIT && \
	(cd $(WEB) && $(CURDIR)/$(BIN)/pybabel -q extract -F babel.cfg --no-location --omit-header \
		--sort-output -o "$$pot" .) && \
	$(BIN)/pybabel -q update -i "$$pot" -d $(WEB)/locales -D messages -l zh_Hans \
		--no-fuzzy-matching --ignore-obsolete -w 100

# Lint, types and the import layers (about half a minute of one core, mypy nearly all of it)
# run beside the tests, at a lower priority, in the moments the test workers wait on
# PostgreSQL, Chromium or a child process; their output is printed once both are done, and
# either failing fails `make test`.
test: $(STAMP) browser
	@log=$$(mktemp); \
	nice -n 10 $(MAKE) --no-print-directory lint > "$$log" 2>&1 & linting=$$!; \
	$(BIN)/pytest; tested=$$?; \
	wait $$linting; linted=$$?; \
	cat "$$log"; rm -f "$$log"; \
	[ $$linted -eq 0 ] || echo "make test: lint, types or the import layers failed (above)" >&2; \
	[ $$tested -eq 0 ] && [ $$linted -eq 0 ]

clean:
	rm -rf $(VENV) .kaimen .pytest_cache .mypy_cache .ruff_cache
