# The project's commands. Each target sets up what it needs on a fresh machine:
# a Python virtualenv (.venv) from requirements-dev.txt and, through `npm ci`,
# Node 22 and the CDK CLI pinned in package-lock.json (put first on PATH so
# jsii never runs on the machine's older Node).
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
export PATH := $(CURDIR)/node_modules/.bin:$(BIN):$(PATH)
# jsii: no "unsupported Node" banners, no upgrade nagging.
export JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION := 1
export CDK_DISABLE_VERSION_CHECK := 1

STAGE ?=
STAGE_FLAG := $(if $(STAGE),-c stage=$(STAGE),)
PY_SOURCES := app.py stacks tests tools lambda

.PHONY: help setup web layers synth diff deploy integ preview preview-offline screenshots bench cost-figures traces test lint format typecheck pytest snapshot-update clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-16s %s\n", $$1, $$2}'

$(VENV)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund
	node --version | grep -q '^v22\.' || { echo "node_modules/.bin/node is not Node 22" >&2; exit 1; }
	touch $@

setup: $(VENV)/.installed node_modules/.installed ## Create .venv and install Node 22 + CDK CLI

WEB_SOURCES := $(shell find assets/web/src -type f) assets/web/index.html assets/web/vite.config.mjs
assets/web/dist/index.html: node_modules/.installed $(WEB_SOURCES)
	npm run --silent build:web

# cdk.json's "build" runs `make --silent web` before every `cdk synth`: the page is
# rebuilt only when its sources changed, once per synth whichever way synth starts.
web: assets/web/dist/index.html ## Build the quick-test page into assets/web/dist (Vite)

layers: setup ## Build the Lambda layers' native wheels for arm64 / Python 3.14 into build/layers (no Docker)
	python -m stacks.native_layer

synth: setup web layers ## Synthesize every stage into cdk.out (STAGE=dev for one)
	cdk synth --quiet $(STAGE_FLAG)
	@ls -1 cdk.out/*.template.json

# `cdk diff` with no stack names compares every stack of the app (it has no --all).
diff: setup web ## Compare a stage with what is deployed (STAGE=dev; needs AWS credentials)
	@test -n "$(STAGE)" || { echo "Set STAGE, e.g. make diff STAGE=dev" >&2; exit 2; }
	@python -m tools.aws
	cdk diff $(STAGE_FLAG)

deploy: setup web ## Deploy every stack of a stage (STAGE=prod; needs AWS credentials)
	@test -n "$(STAGE)" || { echo "Set STAGE, e.g. make deploy STAGE=dev" >&2; exit 2; }
	@python -m tools.aws
	cdk deploy $(STAGE_FLAG) --all

integ: setup web ## Integration test in a real account: deploy stage 'integ', assert, destroy (AWS credentials)
	python -m tools.integ

preview: setup web ## Serve the page on localhost:5173 against a deployed stage (STAGE=dev; AWS credentials)
	@test -n "$(STAGE)" || { echo "Set STAGE, e.g. make preview STAGE=dev (or make preview-offline)" >&2; exit 2; }
	python -m tools.web_preview --stage $(STAGE)

preview-offline: setup web ## Serve the page on localhost:5173 with recorded responses (no AWS)
	python -m tools.web_preview --offline

screenshots: setup web ## Refresh docs/screenshots/ (the README's) from the browser tests
	SCREENSHOT_DIR=$(CURDIR)/docs/screenshots pytest -q tests/web/test_web_page.py -k "labels_mode or face_search or face_analysis or japanese or reviewer_confirms or code_mode"

bench: setup web layers ## Benchmarks (print figures): cost simulator per stage, API handler overhead, code reader, face crops, page photo preparation
	python -m tools.cost bench --stage dev
	@echo
	python -m tools.cost bench --stage prod
	@echo
	python -m tools.bench.api
	@echo
	python -m tools.bench.codes
	@echo
	python -m tools.bench.faces
	@echo
	python -m tools.bench.page

cost-figures: setup ## Regenerate docs/cost/figures-{dev,prod}.md, their pictures and the README's provisional table
	python -m tools.cost report --stage dev --readme
	python -m tools.cost report --stage prod

traces: setup ## Regenerate assets/traces/ (seeded, deterministic)
	python -m tools.cost.traces

lint: setup ## ruff lint and format check
	ruff check $(PY_SOURCES)
	ruff format --check $(PY_SOURCES)

format: setup ## Apply ruff fixes and formatting
	ruff check --fix $(PY_SOURCES)
	ruff format $(PY_SOURCES)

typecheck: setup ## mypy (strict) on the project's Python
	mypy $(PY_SOURCES)

pytest: setup web ## Template, config, cdk-nag, cfn-lint, handler and browser tests
	pytest

test: lint typecheck pytest ## Every check and test (what CI runs)

snapshot-update: setup web ## Refresh template snapshots (stages and the integ app) after an intended change
	pytest tests/infra/test_snapshots.py tests/integ/test_integ_snapshot.py --snapshot-update

clean: ## Remove build output (keeps .venv and node_modules)
	rm -rf cdk.out .pytest_cache .mypy_cache .ruff_cache build assets/web/dist
