# Sentinel: `make demo` runs the main job on embedded defaults, `make test` runs every test.
VENV   ?= .venv
PY     := $(VENV)/bin/python
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PYTHON ?= python3

.PHONY: demo test venv airflow lint clean-demo

venv: $(STAMP)

# torch==2.13.0 first: that CPU wheel is what the project is tested with (see PLATFORM notes in
# the README); the package's own range (torch>=2.4) is then already satisfied.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[dev,embedded,airflow,train]'
	touch $(STAMP)

demo: venv
	$(BIN)/sentinel db upgrade
	$(BIN)/sentinel run --once
	$(BIN)/sentinel status
	$(BIN)/sentinel report --out reports/latest

test: venv
	$(PY) -m pytest

# Airflow standalone with dags/, the embedded (or configured) PostgreSQL, the gpu pool; Ctrl-C stops it.
airflow: venv
	VENV=$(VENV) scripts/airflow-local.sh

# ruff over the code and tests; mypy over sentinel/ and dags/ (configured in pyproject.toml)
lint: venv
	$(BIN)/ruff check sentinel tests dags bench
	$(BIN)/mypy

clean-demo:
	rm -rf $${XDG_DATA_HOME:-$$HOME/.local/share}/sentinel
