# The two commands a newcomer needs: `make run` and `make test`. Everything else is optional.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
WEB_CONCURRENCY ?= 4
# Python may cache compiled modules (and pytest its assertion-rewritten tests) in __pycache__,
# even where the environment says not to: without it every run compiles the project and its tests
# again, which cost `make test` about 4 s of collection per worker (docs/performance.md).
unexport PYTHONDONTWRITEBYTECODE

.PHONY: messages run test test-slow lint serve worker install install-dev migrate model clean

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11) and "Python 3.11 or newer is needed; set PYTHON=python3.11 (or newer)")'
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: requirements.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt
	@touch $@

$(VENV)/.installed-dev: requirements.txt requirements-dev.txt $(VENV)/.installed
	$(BIN)/pip install --quiet -r requirements-dev.txt
	@touch $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

# This machine's settings (DEBUG on, a random secret key), which every manage.py command reads, so
# the README's commands work as written. Written once, readable only by you, never committed.
.env:
	@umask 077 && $(PYTHON) -c 'import secrets; print("DJANGO_DEBUG=1"); print("DJANGO_SECRET_KEY=" + secrets.token_urlsafe(50))' > $@
	@echo "Wrote .env (DJANGO_DEBUG=1 and a random DJANGO_SECRET_KEY) for this machine."

migrate: install .env
	$(BIN)/python manage.py migrate --noinput

# Trains the shipped data set only when no model version is active yet.
model: migrate
	$(BIN)/python manage.py train_model --if-none-active

# The site and one background worker (batch uploads, retraining) beside it; Ctrl-C stops both.
run: model
	DJANGO_DEBUG=1 $(BIN)/python manage.py run_worker & worker=$$!; trap 'kill $$worker 2>/dev/null' EXIT INT TERM; \
	DJANGO_DEBUG=1 $(BIN)/python manage.py runserver $(HOST):$(PORT)

# One more worker (as many as you like, on any host with the same settings).
worker: migrate
	$(BIN)/python manage.py run_worker

# Production mode on this machine: gunicorn (its settings in gunicorn.conf.py), WhiteNoise, DEBUG off (set here, so it
# wins over the DJANGO_DEBUG=1 in .env; the secret key comes from the environment or .env). Plain
# HTTP on loopback, so the HTTPS redirect, secure cookies and HSTS are switched off explicitly here.
SERVE_ENV = DJANGO_DEBUG=0 \
	DJANGO_SECURE_SSL_REDIRECT=0 DJANGO_SESSION_COOKIE_SECURE=0 DJANGO_CSRF_COOKIE_SECURE=0 DJANGO_SECURE_HSTS_SECONDS=0

# The worker and gunicorn's workers share one metrics folder, so /metrics counts the batches the worker stores.
METRICS_DIR ?= $(CURDIR)/.metrics
serve: model
	$(SERVE_ENV) $(BIN)/python manage.py collectstatic --noinput -v0
	mkdir -p $(METRICS_DIR)
	$(SERVE_ENV) PROMETHEUS_MULTIPROC_DIR=$(METRICS_DIR) $(BIN)/python manage.py run_worker & worker=$$!; \
	trap 'kill $$worker 2>/dev/null' EXIT INT TERM; \
	$(SERVE_ENV) PROMETHEUS_MULTIPROC_DIR=$(METRICS_DIR) WEB_CONCURRENCY=$(WEB_CONCURRENCY) \
	$(BIN)/gunicorn --config gunicorn.conf.py --bind $(HOST):$(PORT)

# The fast suite (browser tests included); tests that need minutes by nature are marked slow and
# run by `make test-slow`. PYTEST_ARGS come last, so a -m there replaces the default selection.
# One test process per core (pytest-xdist); a test module's tests stay in one process, which
# starts its browser or server once. PYTEST_WORKERS=0 runs them in this process (for pdb).
PYTEST_WORKERS ?= auto
test: install-dev
	$(BIN)/python -m pytest -q -m "not slow" -n $(PYTEST_WORKERS) --dist loadscope $(PYTEST_ARGS)

# Real gunicorn servers on throw-away databases: load, faults, model switches (a few minutes).
test-slow: install-dev
	$(BIN)/python -m pytest -q -m slow $(PYTEST_ARGS)

# The Chinese catalogue: collect every marked string, fill in the hand-written translations of
# locale/zh_hans_translations.py (it stops on a string with none), compile. Needs GNU gettext.
MESSAGES_IGNORE = --ignore=.venv --ignore=bench --ignore='predictor/tests/*' --ignore=staticfiles --ignore=locale
messages: install-dev .env
	$(BIN)/python manage.py makemessages -l zh_Hans $(MESSAGES_IGNORE) --no-location
	$(BIN)/python locale/fill_po.py
	$(BIN)/python manage.py compilemessages -l zh_Hans --ignore=.venv

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/bandit -q -c pyproject.toml -r .

clean:
	rm -rf $(VENV) staticfiles .pytest_cache .ruff_cache
