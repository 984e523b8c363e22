# kerasopt: every user target installs what it needs first (make install is idempotent).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.kerasopt-installed

OPT ?=
SEED ?= 0
BACKBONE ?=
EPOCHS ?=
DATA ?=
SIZE ?=
ITERATIONS ?=
SCHEDULE ?=
WARMUP ?=
WD ?=
SYNTH_DIR ?= data/synthetic
SYNTH_N ?= 400
SYNTH_SIZE ?= 128
STUDY ?= experiments/style_smoke.yaml
RUNS ?= $(patsubst %/study.json,%,$(firstword $(shell ls -t runs/*/study.json 2>/dev/null)))
PYTEST_ARGS ?=
MODERN_BACKEND ?= --backend ray --workers 2

export TF_CPP_MIN_LOG_LEVEL ?= 2

.PHONY: help install test test-fast train-defects synth style study report results results-style results-defects results-faststyle results-digits results-modern results-summary clean
.DEFAULT_GOAL := help

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  make %-15s %s\n", $$1, $$2}'
	@echo "  variables: OPT= (adam for train-defects, lbfgs for style) SEED=$(SEED) BACKBONE= EPOCHS= DATA= SIZE= ITERATIONS= SCHEDULE= WARMUP= WD= STUDY=$(STUDY) RUNS="

install: $(STAMP) ## create .venv and install kerasopt with its dev extras (quick when nothing changed)

# uv installs the ~1 GB stack in under a minute (pip needs ~3 minutes on 2 cores); pip is the fallback.
$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -m pip install --quiet --disable-pip-version-check uv || true
	@if [ -x $(VENV)/bin/uv ]; then $(VENV)/bin/uv pip install --quiet --python $(PY) -e '.[dev]'; \
	else $(PY) -m pip install --quiet --no-compile -e '.[dev]'; fi
	$(PY) -m pip check
	@touch $(STAMP)

test: install ## run the test suite (pytest); fails when no test ran
	@$(PY) -m pytest $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing"; exit 1; fi; exit $$rc

test-fast: install ## the quick tier for development (about 4 minutes here): every test not marked slow
	@$(PY) -m pytest -m "not slow" $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing"; exit 1; fi; exit $$rc

$(SYNTH_DIR)/manifest.json: | install
	$(PY) -m kerasopt.defects.synth --out $(SYNTH_DIR) --n $(SYNTH_N) --size $(SYNTH_SIZE) --seed 0

synth: $(SYNTH_DIR)/manifest.json ## generate the synthetic air-filter data set once (SYNTH_N, SYNTH_SIZE)

train-defects: install $(if $(DATA),,$(SYNTH_DIR)/manifest.json) ## train the U-Net: OPT=adam [BACKBONE= EPOCHS= DATA= SEED= SIZE= SCHEDULE=cosine WARMUP=0.05 WD=]
	$(PY) -m kerasopt.defects --optimizer $(or $(OPT),adam) --data $(or $(DATA),$(SYNTH_DIR)) --seed $(SEED) \
		$(if $(BACKBONE),--backbone $(BACKBONE)) $(if $(EPOCHS),--epochs $(EPOCHS)) $(if $(SIZE),--size $(SIZE)) \
		$(if $(SCHEDULE),--schedule $(SCHEDULE)) $(if $(WARMUP),--warmup $(WARMUP)) $(if $(WD),--weight-decay $(WD))

style: install ## stylize the bundled photo: OPT=lbfgs [SIZE= ITERATIONS= SEED=]
	$(PY) -m kerasopt.style --optimizer $(or $(OPT),lbfgs) --seed $(SEED) \
		$(if $(SIZE),--size $(SIZE)) $(if $(ITERATIONS),--iterations $(ITERATIONS))

study: install ## run a comparison study: STUDY=experiments/style_smoke.yaml
	$(PY) -m kerasopt.study run $(STUDY)

report: install ## write report.md for a finished study: RUNS=runs/<study> (default: the newest)
	@test -n "$(RUNS)" || { echo "error: no finished study under runs/: give RUNS=runs/<study>"; exit 2; }
	$(PY) -m kerasopt.study report $(RUNS)

# the published studies' lightweight records are committed: any machine resumes them where the last one stopped
results: results-style results-defects results-faststyle results-digits results-modern results-summary ## rerun the published CPU studies (resumable) and regenerate docs/results/

results-style: install ## resume the style studies from their committed records and regenerate their reports
	$(PY) -m kerasopt.study run experiments/style_cpu.yaml --out docs/results/style/records
	$(PY) -m kerasopt.study report docs/results/style/records --out docs/results/style
	$(PY) -m kerasopt.study run experiments/style_cpu_content.yaml --out docs/results/style/content_init/records
	$(PY) -m kerasopt.study report docs/results/style/content_init/records --out docs/results/style/content_init
	$(PY) -m kerasopt.study run experiments/style_cpu_pair2.yaml --out docs/results/style/pair2/records
	$(PY) -m kerasopt.study report docs/results/style/pair2/records --out docs/results/style/pair2
	$(PY) -m kerasopt.study run experiments/style_cpu_budgets.yaml --out docs/results/style/budgets/records
	$(PY) -m kerasopt.study report docs/results/style/budgets/records --out docs/results/style/budgets
	$(PY) -m kerasopt.study run experiments/style_cpu_budgets_content.yaml --out docs/results/style/budgets/content_init/records
	$(PY) -m kerasopt.study report docs/results/style/budgets/content_init/records --out docs/results/style/budgets/content_init
	$(PY) -m kerasopt.study run experiments/style_cpu_budgets_pair2.yaml --out docs/results/style/budgets/pair2/records
	$(PY) -m kerasopt.study report docs/results/style/budgets/pair2/records --out docs/results/style/budgets/pair2
	$(PY) -m kerasopt.study run experiments/style_cpu_1000.yaml --out docs/results/style/budgets/1000/records
	$(PY) -m kerasopt.study report docs/results/style/budgets/1000/records --out docs/results/style/budgets/1000
	$(PY) -m kerasopt.study run experiments/style_cpu_1000_content.yaml --out docs/results/style/budgets/1000/content_init/records
	$(PY) -m kerasopt.study report docs/results/style/budgets/1000/content_init/records --out docs/results/style/budgets/1000/content_init
	$(PY) -m kerasopt.study run experiments/style_cpu_1000_pair2.yaml --out docs/results/style/budgets/1000/pair2/records
	$(PY) -m kerasopt.study report docs/results/style/budgets/1000/pair2/records --out docs/results/style/budgets/1000/pair2

results-defects: install ## resume the defect study from its committed records and regenerate its report
	$(PY) -m kerasopt.study run experiments/defects_cpu.yaml --out docs/results/defects/records
	$(PY) -m kerasopt.study report docs/results/defects/records --out docs/results/defects

results-faststyle: install ## resume the fast style-transfer study from its committed records and regenerate its report
	$(PY) -m kerasopt.study run experiments/faststyle_cpu.yaml --out docs/results/faststyle/records
	$(PY) -m kerasopt.study report docs/results/faststyle/records --out docs/results/faststyle

results-digits: install ## resume the digits study (your-own-model example) from its committed records and regenerate its report
	$(PY) -m kerasopt.study run experiments/digits_cpu.yaml --out docs/results/digits/records
	$(PY) -m kerasopt.study report docs/results/digits/records --out docs/results/digits

# the 2026 protocol (warmup + decay, AdamW/NadamW/Lion/Muon/Schedule-Free); each beside its constant-rate arms rerun on one host
results-modern: install ## resume the modern-protocol studies (digits, fast style, defects) and regenerate their reports
	$(PY) -m kerasopt.study run experiments/digits_constant_here.yaml --out docs/results/digits_modern/constant/records
	$(PY) -m kerasopt.study report docs/results/digits_modern/constant/records --out docs/results/digits_modern/constant
	$(PY) -m kerasopt.study run experiments/digits_modern.yaml --out docs/results/digits_modern/records
	$(PY) -m kerasopt.study report docs/results/digits_modern/records --out docs/results/digits_modern
	$(PY) -m kerasopt.study run experiments/faststyle_constant_here.yaml --out docs/results/faststyle_modern/constant/records $(MODERN_BACKEND)
	$(PY) -m kerasopt.study report docs/results/faststyle_modern/constant/records --out docs/results/faststyle_modern/constant
	$(PY) -m kerasopt.study run experiments/faststyle_modern.yaml --out docs/results/faststyle_modern/records $(MODERN_BACKEND)
	$(PY) -m kerasopt.study report docs/results/faststyle_modern/records --out docs/results/faststyle_modern
	$(PY) -m kerasopt.study run experiments/defects_constant_here.yaml --out docs/results/defects_modern/constant/records $(MODERN_BACKEND)
	$(PY) -m kerasopt.study report docs/results/defects_modern/constant/records --out docs/results/defects_modern/constant
	$(PY) -m kerasopt.study run experiments/defects_modern.yaml --out docs/results/defects_modern/records $(MODERN_BACKEND)
	$(PY) -m kerasopt.study report docs/results/defects_modern/records --out docs/results/defects_modern

results-summary: install ## the cross-workload summary over every published study (records only)
	$(PY) -m kerasopt.study summary docs/results --out docs/results/summary

clean: ## remove generated data and runs (keeps .venv)
	rm -rf runs data .pytest_cache
