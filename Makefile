# chatr: the README's commands. `make run` serves on http://127.0.0.1:8000, `make test` runs every test.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run run-cluster worker test test-fast check lint format migrate superuser moderator bench clean browser-deps screenshots image

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Reinstalls only when a requirements file changes.
$(VENV)/.installed: requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $@

migrate: $(VENV)/.installed
	$(BIN)/python manage.py migrate --noinput

# The server and one background worker (webhook deliveries) together; Ctrl-C stops both.
run: migrate
	$(BIN)/python manage.py collectstatic --noinput --verbosity 0
	$(BIN)/python -m chatr.run --host $(HOST) --port $(PORT)

# Several servers on consecutive ports (PORT, PORT+1, ...) and the workers, on the local PostgreSQL and
# Redis, behaving as one server (docs/deployment.md). Ctrl-C stops all; from elsewhere: kill <pid printed>.
PROCESSES ?= 2
CLUSTER_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/chatr
CLUSTER_REDIS_URL ?= redis://127.0.0.1:6379/0
run-cluster: $(VENV)/.installed
	@psql "$(dir $(CLUSTER_DATABASE_URL))postgres" -tAc "SELECT 1 FROM pg_database WHERE datname = '$(notdir $(CLUSTER_DATABASE_URL))'" \
		| grep -q 1 || psql "$(dir $(CLUSTER_DATABASE_URL))postgres" -c 'CREATE DATABASE "$(notdir $(CLUSTER_DATABASE_URL))"'
	DATABASE_URL=$(CLUSTER_DATABASE_URL) REDIS_URL=$(CLUSTER_REDIS_URL) $(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py collectstatic --noinput --verbosity 0
	DATABASE_URL=$(CLUSTER_DATABASE_URL) REDIS_URL=$(CLUSTER_REDIS_URL) \
		$(BIN)/python -m chatr.run --host $(HOST) --port $(PORT) --processes $(PROCESSES)

# One more background worker, e.g. on another machine sharing the database.
worker: migrate
	$(BIN)/python manage.py webhook_worker

test: $(VENV)/.installed browser-deps
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# The tests that start no server process, browser or service (tests/server.py fails a server in any other).
test-fast: $(VENV)/.installed
	$(BIN)/python -m pytest -m "not e2e and not services and not browser" $(PYTEST_ARGS)

# Debian's Chromium and an emoji font for the browser tests (Playwright drives them; no browser download).
CHROMIUM := /usr/bin/chromium
EMOJI_FONT := /usr/share/fonts/truetype/noto/NotoColorEmoji.ttf
browser-deps:
	@if [ ! -x $(CHROMIUM) ] || [ ! -f $(EMOJI_FONT) ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium fonts-noto-color-emoji; \
	  else \
	    echo "!! Browser tests need Chromium and an emoji font: sudo apt-get install chromium fonts-noto-color-emoji"; \
	    echo "!! (without them the browser tests skip, or fail when CHATR_REQUIRE_SERVICES=1)"; \
	  fi; \
	fi

# The container image (localhost/chatr:latest) with Debian's mmdebstrap, buildah and podman, no registry needed;
# installs them when missing (as root) and rebuilds only when the build context changed. README, "Run it with containers".
image:
	containers/build.sh

# Refreshes docs/screenshots/ (the lobby at 390x844 and 1440x900, light and dark).
screenshots: $(VENV)/.installed browser-deps
	CHATR_SCREENSHOTS_DIR=$(CURDIR)/docs/screenshots $(BIN)/python -m pytest tests/e2e/test_screenshots.py -q

# Lint, format and types: ruff, then mypy over the packages listed in pyproject.toml. CI runs it before the tests.
check: $(VENV)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

lint: check

format: $(VENV)/.installed
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

superuser: migrate
	$(BIN)/python manage.py createsuperuser

# A moderator without prompts: MODERATOR_PASSWORD=... make moderator MODERATOR=alice
moderator: migrate
	$(BIN)/python manage.py create_moderator --username "$(MODERATOR)" --password-from-env MODERATOR_PASSWORD

# chatr against the in-memory Node reference, the targets of issues 13 and 22 (docs/benchmarks.md); about 12 minutes.
# Options pass through: make bench BENCH_ARGS="--quick"   make bench BENCH_ARGS="--only storm"
bench: $(VENV)/.installed
	bench/run_all.sh $(BENCH_ARGS)

clean:
	rm -rf $(VENV) staticfiles .pytest_cache .ruff_cache .mypy_cache
