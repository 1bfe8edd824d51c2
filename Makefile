# Two commands a learner needs (see README.md):
#   make lab    install everything into .venv and open the course in JupyterLab
#   make test   install everything into .venv and run the whole test suite
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: lab site test test-latest test-colab lint

$(VENV)/.installed: requirements.txt requirements-runtime.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt -e .
	touch $@

# The project's JupyterLab defaults (no news or update pop-ups), where JupyterLab reads them:
# overrides.json in the venv's application settings dir. binder/postBuild copies the same file.
LAB_SETTINGS := $(VENV)/share/jupyter/lab/settings/overrides.json

$(LAB_SETTINGS): jupyterlab/overrides.json $(VENV)/.installed
	mkdir -p $(dir $@)
	cp $< $@

# JupyterLab refuses to run as root without --allow-root (containers, classroom images):
# pass it only when the user is root. LAB_ARGS adds options, e.g. LAB_ARGS=--no-browser.
lab: $(VENV)/.installed $(LAB_SETTINGS)
	$(VENV)/bin/jupyter lab $(if $(filter 0,$(shell id -u)),--allow-root) $(LAB_ARGS) notebooks/

# The course as a static site in build/site/: every notebook executed (fast mode; FULL=1 for
# the full recipes, with CNNKIT_DATA_DIR pointing at real data), with its figures, the course
# table and the instructor guide. ONLY=04,06 builds those notebooks' pages only.
site: $(VENV)/.installed
	$(PY) -m cnnkit.website --out build/site $(if $(filter 1,$(FULL)),--full) $(if $(ONLY),--only $(ONLY))

lint: $(VENV)/.installed
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy

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
	cat requirements-runtime.txt requirements.txt | grep -v '^-r' \
		| sed -E 's/,[[:space:]]*<[^,;#]*//g' > $(LATEST)/requirements-latest.txt
	$(LATEST)/bin/python -m pip install --quiet --upgrade -r $(LATEST)/requirements-latest.txt
	$(LATEST)/bin/python -m pip install --quiet --no-deps -e .
	$(LATEST)/bin/python -m pip freeze --exclude-editable > $(LATEST)/versions.txt
	$(LATEST)/bin/python -m pytest

# Colab's stack: Python 3.13 (pyenv) with Colab's exact versions of what the kit uses
# (.ci/colab/preinstalled.txt, versions from .ci/colab/pip-freeze.txt), then the kit installed
# the way a notebook's setup cell does in Colab (cnnkit.course.colab_commands: the installed
# packages as constraints). It checks that pip changed no Colab package, runs every notebook
# in fast mode with `python -m cnnkit run-notebooks` and the unit tests (not the JupyterLab
# browser test: Colab has no JupyterLab). Part of .ci/run.
COLAB ?= .venv-colab
COLAB_PYTHON ?= $(firstword $(wildcard $(HOME)/.pyenv/versions/3.13*/bin/python3))
COLAB_BIN := $(abspath $(COLAB))/bin

test-colab:
	@test -n "$(COLAB_PYTHON)" || { echo "test-colab needs Python 3.13: pyenv install 3.13, or COLAB_PYTHON=/path/to/python3.13"; exit 1; }
	rm -rf $(COLAB)
	$(COLAB_PYTHON) -m venv $(COLAB)
	$(COLAB_BIN)/python -m pip install --quiet -c .ci/colab/pip-freeze.txt pip
	$(COLAB_BIN)/python -m pip install --quiet -c .ci/colab/pip-freeze.txt -r .ci/colab/preinstalled.txt
	PYTHONPATH=. $(COLAB_BIN)/python -c "from cnnkit.course import colab_commands; print(chr(10).join(colab_commands('.')))" > $(COLAB)/setup-cell.sh
	PATH="$(COLAB_BIN):$$PATH" bash -euo pipefail $(COLAB)/setup-cell.sh
	$(COLAB_BIN)/python -m pip list --format=freeze | $(COLAB_BIN)/python .ci/colab/compare.py .ci/colab/pip-freeze.txt -
	$(COLAB_BIN)/python -m pip install --quiet -c .ci/colab/pip-freeze.txt "nbval>=0.11,<0.12" "pytest-timeout>=2.3,<3"
	$(COLAB_BIN)/python -m pip list --format=freeze > $(COLAB)/versions.txt
	cd $(COLAB) && PATH="$(COLAB_BIN):$$PATH" CNNKIT_OFFLINE=1 $(COLAB_BIN)/python -m cnnkit run-notebooks --notebooks $(CURDIR)/notebooks --out $(abspath $(COLAB))/course
	PATH="$(COLAB_BIN):$$PATH" $(COLAB_BIN)/python -m pytest tests --ignore=tests/test_browser.py
