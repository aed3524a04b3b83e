# The two commands of the course:
#   make lab   creates/reuses .venv, installs the pinned requirements, opens JupyterLab
#   make test  the same set-up, then the unit tests and every notebook under nbval
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: lab test lint notebooks clean-venv

$(STAMP): requirements.txt bench/requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	touch $(STAMP)

# Jupyter refuses to run as root (containers, some cloud machines) unless told it is fine.
lab: $(STAMP)
	$(BIN)/jupyter lab notebooks/ $(if $(filter 0,$(shell id -u)),--allow-root)

test: $(STAMP)
	MF_COURSE_PROGRESS=0 $(BIN)/python -m pytest tests notebooks --nbval-lax --nbval-current-env \
		--nbval-cell-timeout=600 --nbval-sanitize-with tests/nbval_sanitize.cfg

lint: $(STAMP)
	$(BIN)/ruff check utils tests bench notebooks

# Re-execute every notebook top to bottom and store its outputs (what students read on GitHub).
notebooks: $(STAMP)
	$(BIN)/python tools/run_notebooks.py notebooks/*.ipynb

clean-venv:
	rm -rf $(VENV)
