# Two commands: `make lab` (the course) and `make test` (the kit's own tests).
# Both create .venv on first use and reinstall only when pyproject.toml changes.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.kit-installed
# make test: two workers halve the time on 2 cores; a stage that fails on a busy machine is graded again (kit/grading/busy.py).
TEST_JOBS ?= 2

.PHONY: lab lab-bn test check bench setup

# pip shows setuptools' notes; the one about editable installs is not for learners (PYTHONWARNINGS).
$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
	  { echo "Channels Kit needs Python 3.11 or newer; '$(PYTHON)' is older. Try: make lab PYTHON=python3.12"; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	PYTHONWARNINGS="ignore:Editable installation" $(BIN)/python -m pip install --progress-bar on -e .
	@touch $@

# .venv/bin goes first on PATH so `kit ...` works in `!kit` cells. kit/lab/jupyter_lab_config.py does the rest
# (it says why): terminals that find `kit` whatever the login profile does (and speak Bengali in lab-bn),
# .html links that open the editor, a workspace per language, no news pop-up.
# root_dir is the kit's folder, not notebooks/, so the lessons' links to ../project/ files open.
# Containers often run as root, where JupyterLab refuses to start without --allow-root.
LESSON ?= notebooks/00_welcome.ipynb
LAB_LANG ?= en
lab: $(STAMP)
	PATH="$(abspath $(BIN)):$$PATH" KIT_LAB_LANG=$(LAB_LANG) $(BIN)/jupyter lab --config=kit/lab/jupyter_lab_config.py \
	  --ServerApp.ip=127.0.0.1 --ServerApp.root_dir=. $(if $(filter 0,$(shell id -u)),--allow-root) $(LESSON)

# The Bengali edition (README.bn.md): the same lab, opened on the Bengali welcome notebook.
lab-bn: LESSON = notebooks/bn/00_welcome.ipynb
lab-bn: LAB_LANG = bn
lab-bn: lab

# In CI (CI=true) a missing browser is installed and browser checks must run.
test: $(STAMP)
	@if [ -n "$$CI" ]; then bash scripts/ensure-browser.sh; fi
	@if [ -n "$$CI" ]; then bash scripts/ensure-fonts.sh; fi
	@if [ -n "$$CI" ]; then bash scripts/ensure-sandbox.sh; fi
	@if [ -n "$$CI" ]; then export KIT_REQUIRE_BROWSER=1 KIT_REQUIRE_SANDBOX=1; fi; \
	  $(BIN)/python -m pytest tests -n $(TEST_JOBS) --dist loadfile --durations=25

# Set-up only (CI and the GitHub Classroom workflow).
setup: $(STAMP)

check: $(STAMP)
	$(BIN)/kit check

# Figures, not tests: grading speed, the live stages, every notebook, load and bursts, the channel layers.
bench: $(STAMP)
	$(BIN)/python -m benchmarks.grading
	$(BIN)/python -m benchmarks.class_jobs
	$(BIN)/python -m benchmarks.live_stages
	$(BIN)/python -m benchmarks.notebooks
	$(BIN)/python -m benchmarks.load
	$(BIN)/python -m benchmarks.history_cost
	$(BIN)/kit bench --project solutions
