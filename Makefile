# CareDesk. Two commands do everything on a fresh machine:
#   make run    set up, migrate, train if the bot changed, start the servers, print the URLs
#   make test   validation, training, conversation tests and pytest
# See README.md for the settings (environment variables, or a .env file beside this one).
SHELL := /bin/bash
.DEFAULT_GOAL := help

RASA_VENV := .venv-rasa
APP_VENV := .venv
RASA := $(RASA_VENV)/bin/rasa
PY := $(APP_VENV)/bin/python
MODEL := models/caredesk.tar.gz
TRAINING_INPUTS := $(shell find data -name '*.yml' 2>/dev/null) domain.yml config.yml

# Every command runs with the settings: .env beside this file (the environment wins) and the
# defaults in scripts/env.sh.
ENV := scripts/with-env

.PHONY: help setup migrate train run shell agent test validate test-stories test-stories-stock pytest clean bench export erase purge

help:
	@echo "make run     set up, migrate, train if needed and start CareDesk (Ctrl-C stops it)"
	@echo "make shell   chat with the bot in this terminal"
	@echo "make test    validate the training data, train, run conversation tests and pytest"
	@echo "make train   retrain the bot if data/, domain.yml or config.yml changed"
	@echo "make agent USERNAME=dana NAME=Dana [ROLE=admin|lead|agent|trainer]   add a console account"
	@echo "make bench   measure understanding, speed and cost (docs/benchmark.md)"
	@echo "make export EMAIL=...   one customer's data as JSON (OUT=file to write a file)"
	@echo "make erase EMAIL=...    erase one customer's data (asks to confirm; YES=1 does not)"
	@echo "make purge   erase conversations older than RETENTION_DAYS (for cron)"

$(RASA_VENV)/.installed: requirements-rasa.txt scripts/find-python310
	@py=$$($(ENV) scripts/find-python310) || exit 1; \
	  if [ ! -x $(RASA_VENV)/bin/python ]; then echo "Creating $(RASA_VENV) with $$py"; $$py -m venv $(RASA_VENV); fi
	$(RASA_VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements-rasa.txt
	@touch $@

$(APP_VENV)/.installed: requirements.txt scripts/find-python310
	@py=$$($(ENV) scripts/find-python310) || exit 1; \
	  if [ ! -x $(APP_VENV)/bin/python ]; then echo "Creating $(APP_VENV) with $$py"; $$py -m venv $(APP_VENV); fi
	$(APP_VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements.txt
	@touch $@

setup: $(RASA_VENV)/.installed $(APP_VENV)/.installed
	@mkdir -p var models

migrate: setup
	$(ENV) $(PY) -m caredesk.db migrate

$(MODEL): $(TRAINING_INPUTS) | $(RASA_VENV)/.installed
	@mkdir -p models
	$(ENV) $(RASA) train --fixed-model-name caredesk --out models
	@touch $@

train: $(MODEL)

run: setup migrate train
	@scripts/run.sh

shell: setup migrate train
	@scripts/shell.sh

agent: migrate
	@if [ -z "$(USERNAME)" ] || [ -z "$(NAME)" ]; then echo "usage: make agent USERNAME=dana NAME=Dana"; exit 2; fi
	@$(ENV) $(PY) -m bot create-agent "$(USERNAME)" --name "$(NAME)" $(if $(ROLE),--role "$(ROLE)")

# Privacy (docs/security/privacy.md). PHONE=, TICKET= or CONVERSATION= instead of EMAIL= work too.
PRIVACY_WHO = $(if $(EMAIL),--email "$(EMAIL)",$(if $(PHONE),--phone "$(PHONE)",$(if $(TICKET),--ticket "$(TICKET)",$(if $(CONVERSATION),--conversation "$(CONVERSATION)"))))

export: migrate
	@if [ -z '$(PRIVACY_WHO)' ]; then echo "usage: make export EMAIL=someone@example.com [OUT=file.json]"; exit 2; fi
	@$(ENV) $(PY) -m bot privacy export $(PRIVACY_WHO) $(if $(OUT),--out "$(OUT)")

erase: migrate
	@if [ -z '$(PRIVACY_WHO)' ]; then echo "usage: make erase EMAIL=someone@example.com [YES=1]"; exit 2; fi
	@$(ENV) $(PY) -m bot privacy erase $(PRIVACY_WHO) $(if $(YES),--yes)

purge: migrate
	@$(ENV) $(PY) -m bot purge

validate: setup
	$(ENV) $(RASA_VENV)/bin/python scripts/validate_data.py

# The conversation tests, on the engine as the Rasa server runs it: with the engine speed-ups
# unless CAREDESK_ENGINE_SPEEDUPS=off (engine/startup.py). test-stories-stock runs them again
# on Rasa as shipped; both must pass and decide every story alike (engine/conversation_tests.py).
STORY_TEST := $(RASA_VENV)/bin/python -m engine.conversation_tests
STORY_ARGS := --model $(MODEL) --stories tests/test_stories.yml --fail-on-prediction-errors --successes --no-plot

test-stories: $(MODEL)
	@rm -rf var/test-results
	$(ENV) $(STORY_TEST) run $(STORY_ARGS) --out var/test-results

test-stories-stock: test-stories
	@rm -rf var/test-results-stock
	CAREDESK_ENGINE_SPEEDUPS=off $(ENV) $(STORY_TEST) run $(STORY_ARGS) --out var/test-results-stock
	$(STORY_TEST) compare var/test-results var/test-results-stock

pytest: setup
	@scripts/ensure-chromium
	$(ENV) $(PY) -m pytest

test: validate train test-stories test-stories-stock pytest

# Understanding, speed and cost of the real stack; writes var/bench/<UTC time>.{json,md,png}.
# BENCH_LEVELS, BENCH_SECONDS, BENCH_CAPACITY_MAX, BENCH_SKIP_TRAIN, BENCH_ONLY=flood: see docs/benchmark.md.
bench: setup migrate train
	$(ENV) $(PY) -m bench

clean:
	rm -rf var/test-results var/test-results-stock .pytest_cache
