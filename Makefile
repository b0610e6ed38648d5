# Herald: `make run` serves the app, `make test` runs the checks. Each sets itself up on a fresh Debian machine.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export FLASK_APP := wsgi
# Debian packages the test suite drives for real: the browser, the nginx gateway, a forward proxy, PostgreSQL.
TEST_DEBS := chromium nginx tinyproxy postgresql
HOST ?= 127.0.0.1
PORT ?= 5000

.PHONY: run test lint bench translations extract-messages clean debs

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.runtime: requirements.txt $(BIN)/activate
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.dev: requirements-dev.txt $(VENV)/.runtime
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@

translations: $(VENV)/.runtime
	$(BIN)/pybabel compile --use-fuzzy --statistics -d webapp/translations 2>&1 | tail -n 1

run: $(VENV)/.runtime translations
	$(BIN)/flask db upgrade
	$(BIN)/flask create-admin
	$(BIN)/flask run --host $(HOST) --port $(PORT)

debs:
	@missing=""; for pkg in $(TEST_DEBS); do dpkg-query -W -f='$${Status}' $$pkg 2>/dev/null | grep -q "ok installed" || missing="$$missing $$pkg"; done; \
	if [ -n "$$missing" ]; then \
		echo "Installing Debian packages:$$missing"; \
		if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
		$$SUDO apt-get update -q && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q --no-install-recommends $$missing; \
	fi

lint: $(VENV)/.dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: $(VENV)/.dev debs translations lint
	$(BIN)/pytest

bench: $(VENV)/.dev translations
	$(BIN)/python -m benchmarks

extract-messages: $(VENV)/.runtime
	$(BIN)/pybabel extract -F babel.cfg -k _l -k lazy_gettext --no-location --sort-output -o webapp/translations/messages.pot .
	$(BIN)/pybabel update -i webapp/translations/messages.pot -d webapp/translations --no-fuzzy-matching --ignore-obsolete

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
