# Two commands do all the set-up on a fresh machine: `make run` and `make test` (`make lint`: ruff and mypy).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint upgrade messages clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit("oppbot needs Python 3.11 or newer") if sys.version_info < (3, 11) else None'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@touch $(STAMP)

run: $(STAMP)
	$(BIN)/oppbot run

test: $(STAMP)
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy

upgrade: $(STAMP)
	$(BIN)/oppbot db upgrade

# The message catalogue: extract every string written through a Translator, merge it into the zh_CN catalogue
# (new entries arrive untranslated: tests/test_catalogue.py fails until each has its Chinese), compile the .mo.
messages: $(STAMP)
	$(BIN)/pybabel extract -F babel.cfg -k t -k plural:1,2 -k N_ --no-default-keywords --no-location --sort-output \
		--project oppbot -o bot/i18n/oppbot.pot .
	$(BIN)/pybabel update -i bot/i18n/oppbot.pot -d bot/i18n/locale -D oppbot -l zh_CN --no-fuzzy-matching --ignore-pot-creation-date
	$(BIN)/pybabel compile -d bot/i18n/locale -D oppbot --statistics

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache .mypy_cache .ruff_cache
