# kmwiki — `make run` serves the demo, `make test` runs the whole suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
FLASK := $(BIN)/flask --app kmwiki
HOST ?= 127.0.0.1
PORT ?= 5000
WORKERS ?= 2
MO := kmwiki/translations/zh/LC_MESSAGES/messages.mo
PO := kmwiki/translations/zh/LC_MESSAGES/messages.po

.PHONY: run test browser install install-dev translations extract-messages clean

run: install translations
	$(FLASK) init-db
	$(FLASK) demo-data --if-empty
	$(BIN)/gunicorn -c python:kmwiki.serving --workers $(WORKERS) --bind $(HOST):$(PORT) --access-logfile - wsgi:app

# Browser tests (tests/browser) drive Debian's chromium through Playwright; never a downloaded browser.
test: install-dev translations browser
	PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 $(BIN)/pytest

SUDO := $(if $(filter 0,$(shell id -u)),,sudo)
browser:
	@test -x /usr/bin/chromium || ($(SUDO) apt-get update && \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium fonts-noto-cjk)

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev
translations: $(MO)

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: setup.cfg pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: setup.cfg pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $(VENV)/.installed $@

$(MO): $(PO) | $(VENV)/.installed
	$(BIN)/pybabel compile --use-fuzzy -d kmwiki/translations

# After changing user-visible strings: extract them and merge into the Chinese catalog.
extract-messages: install
	$(BIN)/pybabel extract -F kmwiki/translations/babel.cfg -k _l -k lazy_gettext --ignore-dirs ".* __pycache__" --sort-by-file \
		--no-wrap --omit-header -o kmwiki/translations/messages.pot .
	$(BIN)/pybabel update -i kmwiki/translations/messages.pot -d kmwiki/translations --no-wrap

# Leaderboard timings at 1,000,000 ledger rows (bench/README.md); PostgreSQL too when KMWIKI_TEST_POSTGRES_URL is set.
.PHONY: bench bench-leaderboard bench-search bench-load
bench: bench-leaderboard bench-search bench-load

bench-leaderboard: install
	$(BIN)/python bench/leaderboard.py $(if $(KMWIKI_TEST_POSTGRES_URL),--postgres $(KMWIKI_TEST_POSTGRES_URL))

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache $(MO)

# Search quality on ../shared/data's retrieval sets beside a reference BM25, then latency at 100,000 entries.
bench-search: install
	$(BIN)/python bench/search_quality.py --scale 100000

# gunicorn load run at 100,000 entries beside a bare Flask page (bench/README.md); keeps its instance in $TMPDIR.
bench-load: install translations
	$(BIN)/python bench/load.py
