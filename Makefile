# The two commands of the README: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
MANAGE := $(BIN)/python manage.py

.PHONY: run serve-all schema test install install-dev messages compile-messages lint typecheck clean bench bench-online screenshots

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.runtime: requirements.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.dev: requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@ $(VENV)/.runtime

install: $(VENV)/.runtime
install-dev: $(VENV)/.dev

# The demo runs in development mode; .env is created once so that
# `.venv/bin/python manage.py ...` in another terminal finds the same settings.
.env:
	cp .env.example .env

compile-messages: $(VENV)/.runtime
	DJANGO_MODE=development $(MANAGE) compile_catalogue

run: install .env compile-messages
	$(MANAGE) migrate --no-input
	$(MANAGE) demo_seed
	$(MANAGE) runserver 127.0.0.1:8000

# Web, workers and beat as in production (Procfile), under honcho, against
# the PostgreSQL and Redis named in .env (docs/operations.md).
serve-all: install .env compile-messages
	@grep -q '^DATABASE_URL=postgres' .env && grep -q '^CELERY_BROKER_URL=redis' .env \
	  || { echo "serve-all: set DATABASE_URL and CELERY_BROKER_URL in .env"; exit 1; }
	$(MANAGE) migrate --no-input
	$(MANAGE) collectstatic --no-input --verbosity 0
	$(BIN)/honcho start

# The committed OpenAPI schema (docs/openapi.yaml), in English; a test fails
# when it differs from what the code generates, so run this after API changes.
schema: install
	DJANGO_MODE=development $(MANAGE) spectacular --lang en --validate --file docs/openapi.yaml

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

typecheck: install-dev
	DJANGO_MODE=development $(BIN)/mypy .

test: install-dev compile-messages lint typecheck
	DJANGO_MODE=development $(BIN)/pytest

# Needs GNU gettext (xgettext); refreshes locale/zh_Hans/LC_MESSAGES/django.po.
messages: install
	DJANGO_MODE=development $(MANAGE) makemessages --locale zh_Hans --ignore ".venv/*" --ignore "var/*" --no-obsolete --no-location

# The daily close against its floor on PostgreSQL (docs/performance.md):
# `make bench SIZES=100000 WORKERS=1,2`; the sizes default to all three.
SIZES ?= 100000,300000,1000000
WORKERS ?=
bench: install-dev
	$(BIN)/python -m bench.close --sizes $(SIZES) --workers "$(WORKERS)"

# The online paths under load on PostgreSQL (docs/performance.md, "Online"):
# a fresh database lending_online, gunicorn, Locust headless, then the
# repayment and ledger checks: `make bench-online USERS=4,12,40 DURATION=60s`.
USERS ?= 4,12,40
DURATION ?= 60s
bench-online: install-dev
	$(BIN)/python bench/online/run.py --users $(USERS) --time $(DURATION)

# The README's screenshots (docs/screenshots/), taken from the demo seeded
# into a scratch SQLite database; needs /usr/bin/chromium and a CJK font
# (fonts-wqy-microhei). Not part of `make test`.
screenshots: install-dev compile-messages
	DJANGO_MODE=development $(BIN)/python -m tests.e2e.demo_screenshots

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
