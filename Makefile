# querytrack — every target installs into a git-ignored .venv first if needed. `make help` lists them.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
PYTEST_ARGS ?=

.DEFAULT_GOAL := help
.PHONY: help install constraints run pretrain test test-full lint format bench synthetic check-data clean

help: ## List every target with its description
	@grep -E '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | sort | awk 'BEGIN {FS = ":.*?## "}; {printf "  \033[36m%-12s\033[0m %s\n", $$1, $$2}'

# The exact versions CI installs: constraints.txt (make constraints rewrites it from the working .venv);
# pyproject.toml states the ranges a user's environment may have.
$(STAMP): pyproject.toml constraints.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --disable-pip-version-check -q -c constraints.txt -e ".[dev]"
	@touch $(STAMP)

install: $(STAMP) ## Create .venv (if missing) and install querytrack with its dev tools, versions from constraints.txt

constraints: $(STAMP) ## Rewrite constraints.txt from the versions installed in .venv (after changing a dependency)
	@{ echo "# The exact versions CI installs (make install: pip install -c constraints.txt -e .[dev])."; \
	   echo "# Written by make constraints from a working .venv; pyproject.toml holds the supported ranges."; \
	   $(PY) -m pip freeze --disable-pip-version-check --all --exclude-editable | grep -v -i -E '^(querytrack|pip)[= ]'; } > constraints.txt

run: $(STAMP) ## Main job: fine-tune the pretrained small model on the synthetic set (CPU, ~10 min), evaluate, print AP
	$(PY) -m querytrack.run experiment=synthetic $(ARGS)

ifndef PRETRAIN_RUN
PRETRAIN_RUN := outputs/pretrain/$(shell date +%Y-%m-%d_%H-%M-%S)
endif
pretrain: $(STAMP) ## Reproduce the shipped synthetic init checkpoint (~1 h on 2 cores) as $(PRETRAIN_RUN)/synthetic_pretrain.pt
	$(PY) -m querytrack.run experiment=synthetic_pretrain hydra.run.dir=$(PRETRAIN_RUN)
	$(PY) -m querytrack.checkpoints.compact $(PRETRAIN_RUN)/checkpoints/last.ckpt --out $(PRETRAIN_RUN)/synthetic_pretrain.pt \
		--description "small r18 detector pretrained on synthetic still images (make pretrain)" \
		--command "make pretrain" --git-sha "$$(git rev-parse HEAD 2>/dev/null || echo unknown)"

test: $(STAMP) ## Run the test suite (CPU, offline, excludes @slow and @gpu)
	$(PY) -m pytest -q -n 2 $(PYTEST_ARGS)

test-full: $(STAMP) ## Run every test, slow and SLURM ones included (tests/slurm starts a one-node SLURM as root)
	$(PY) -m pytest -q -n 2 -m "not gpu" $(PYTEST_ARGS)

lint: $(STAMP) ## ruff check + format check + mypy
	$(PY) -m ruff check querytrack tests benchmarks
	$(PY) -m ruff format --check querytrack tests benchmarks
	$(PY) -m mypy querytrack

format: $(STAMP) ## Apply ruff fixes and formatting
	$(PY) -m ruff check --fix querytrack tests benchmarks
	$(PY) -m ruff format querytrack tests benchmarks

bench: $(STAMP) ## Benchmarks: print ratios measured side by side in one run
	$(PY) benchmarks/run_all.py

synthetic: $(STAMP) ## Generate the synthetic set into OUT=dir (default: the cache)
	$(PY) -m querytrack.data.synthetic $(if $(OUT),--out $(OUT))

check-data: $(STAMP) ## Validate a YouTube-VIS json: make check-data ANN=train.json IMAGES=train/JPEGImages
	$(PY) -m querytrack.check_data $(ANN) $(if $(IMAGES),--images $(IMAGES)) --check-files

clean: ## Remove caches and build outputs (keeps .venv)
	rm -rf .pytest_cache .ruff_cache .mypy_cache build dist *.egg-info outputs multirun
