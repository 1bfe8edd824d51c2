# Two commands a learner needs (see README.md):
#   make lab    install everything into .venv and open the course in JupyterLab
#   make test   install everything into .venv and run the whole test suite
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: lab test test-latest lint

$(VENV)/.installed: requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt -e .
	touch $@

lab: $(VENV)/.installed
	$(VENV)/bin/jupyter lab notebooks/

lint: $(VENV)/.installed
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

test: lint
	$(PY) -m pytest

# The newest releases of every requirement, upper bounds dropped, in a fresh venv: run it
# before a workshop to see whether tomorrow's Keras or TensorFlow breaks the course.
# Not part of .ci/run. The versions it tested are left in $(LATEST)/versions.txt.
LATEST ?= .venv-latest

test-latest:
	rm -rf $(LATEST)
	$(PYTHON) -m venv $(LATEST)
	$(LATEST)/bin/python -m pip install --quiet --upgrade pip
	sed -E 's/,[[:space:]]*<[^,;#]*//g' requirements.txt > $(LATEST)/requirements-latest.txt
	$(LATEST)/bin/python -m pip install --quiet --upgrade -r $(LATEST)/requirements-latest.txt
	$(LATEST)/bin/python -m pip install --quiet --no-deps -e .
	$(LATEST)/bin/python -m pip freeze --exclude-editable > $(LATEST)/versions.txt
	$(LATEST)/bin/python -m pytest
