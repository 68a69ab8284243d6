# The two commands of the README. Both create .venv themselves and are safe to run again.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test lint system-deps browser-deps clean

RUN_ENV := DJANGO_DEBUG=1 BASE_URL=http://$(HOST):$(PORT)

run: $(STAMP)
	$(RUN_ENV) $(BIN)/python manage.py migrate --noinput
	$(RUN_ENV) $(BIN)/python manage.py demo
	@echo "Serving on http://$(HOST):$(PORT)/"
	$(RUN_ENV) $(BIN)/python manage.py runserver $(HOST):$(PORT)

test: $(STAMP) | browser-deps
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

$(STAMP): pyproject.toml | system-deps
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 $(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# pysaml2 verifies signatures with the xmlsec1 program (Debian package xmlsec1).
system-deps:
	@command -v xmlsec1 >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "Installing xmlsec1 (Debian package)..."; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq xmlsec1 >/dev/null; \
	  else \
	    echo "xmlsec1 is missing. Install it with: sudo apt-get install xmlsec1" >&2; exit 1; \
	  fi; }

# The end-to-end tests (tests/e2e/) drive Debian's chromium; without it they are skipped, so a
# missing chromium is installed when we can and never stops `make test`. Only `make test` asks
# for it: `make run` does not need a browser of its own.
browser-deps:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "Installing chromium (Debian package, for the end-to-end tests)..."; \
	    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } \
	      || echo "Could not install chromium: the end-to-end tests will be skipped." >&2; \
	  else \
	    echo "chromium is missing: the end-to-end tests will be skipped (sudo apt-get install chromium)." >&2; \
	  fi; }

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache *.egg-info
