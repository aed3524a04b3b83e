# The two commands of the course:
#   make lab   creates/reuses .venv, installs the pinned requirements, opens JupyterLab
#   make test  the same set-up, then the unit tests and every notebook under nbval, whose
#              stored outputs must match a fresh run
#   make student  the student edition (solutions and self-check answers removed) in student/
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
MIN_PYTHON := (3, 11)  # numpy, pandas and scipy at their pinned versions need 3.11

.PHONY: lab test lint notebooks student lock clean-venv

$(STAMP): requirements.txt constraints.txt bench/requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -c 'import sys; sys.exit(sys.version_info < $(MIN_PYTHON) and f"the pinned \
	requirements need Python 3.11 or newer and $(VENV) has {sys.version.split()[0]}: run \
	make clean-venv, then make PYTHON=python3.11 (or newer)")'
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	touch $(STAMP)

# Jupyter refuses to run as root (containers, some cloud machines) unless told it is fine.
lab: $(STAMP)
	$(BIN)/jupyter lab notebooks/ $(if $(filter 0,$(shell id -u)),--allow-root)

# nbval in strict mode: every stored text output must match a fresh run, apart from what
# tests/nbval_sanitize.cfg masks (timings, addresses, thread count); images are not compared.
# One CPU thread here and in `make notebooks`: sums over many threads are split differently on
# machines with more cores, which can move the last printed digit of a stored number.
# The worked solutions run with strict checks: a solution that no longer passes its check fails.
# Two pytest workers, one per core; a notebook's cells stay together on one worker (loadfile).
# Matplotlib's font cache lives in the venv and is built before the workers start: a cache shared
# with other installs can list fonts that are gone, and a cache built by two kernels at once
# prints a warning; either way a plot cell would print to stderr and fail under nbval.
MPL_ENV := MPLCONFIGDIR=$(CURDIR)/$(VENV)/matplotlib

test: $(STAMP)
	$(MPL_ENV) $(BIN)/python -c "import matplotlib.font_manager"
	OMP_NUM_THREADS=1 MF_COURSE_PROGRESS=0 MF_COURSE_STRICT_CHECKS=1 $(MPL_ENV) $(BIN)/python -m pytest \
		-n 2 --dist loadfile tests notebooks --nbval --nbval-current-env \
		--nbval-cell-timeout=600 --nbval-sanitize-with tests/nbval_sanitize.cfg

lint: $(STAMP)
	$(BIN)/ruff check utils tests bench notebooks

# Re-execute every notebook top to bottom and store its outputs (what students read on GitHub).
notebooks: $(STAMP)
	$(MPL_ENV) $(BIN)/python -c "import matplotlib.font_manager"
	OMP_NUM_THREADS=1 $(MPL_ENV) $(BIN)/python tools/run_notebooks.py notebooks/*.ipynb

# The student edition: nbgrader generate_assignment with nbgrader_config.py (TEACHING.md).
student: $(STAMP)
	$(BIN)/python -m nbgrader generate_assignment notebooks --no-db --force
	@echo "student edition written to student/notebooks/"

# After changing a pin in requirements.txt: re-install, then record every package it pulled in.
# torch stays out: its pin lives in requirements.txt and the local +cpu/+cuXXX tag varies.
lock:
	test -x $(BIN)/python || { echo "make lock records $(VENV): run make test first"; exit 1; }
	{ echo "# Every package the pinned requirements pull in, at the version CI tested; made by"; \
	  echo "# 'make lock' (pip freeze). Used as pip constraints by requirements.txt."; \
	  $(BIN)/python -m pip freeze --exclude-editable | grep -v -e '^#' -e '^torch=='; \
	} > constraints.txt

clean-venv:
	rm -rf $(VENV)
