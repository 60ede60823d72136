# Sentinel: `make demo` runs the main job on embedded defaults, `make test` runs every test.
VENV   ?= .venv
PY     := $(VENV)/bin/python
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PYTHON ?= python3
# Where torch comes from (pip arguments), installed before the package, whose own range
# (torch>=2.4) is then satisfied. The default takes torch==2.13.0 from pip's configured indexes:
# on this project's machines and in CI that is the CPU wheel the project is tested with; from
# plain PyPI on Linux x86_64 it is the CUDA build (GPU machines). A CPU-only machine on PyPI
# gets the small CPU build from PyTorch's own index (into a new venv: rm -rf .venv first):
#   make demo TORCH_PIP_ARGS="torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu"
TORCH_PIP_ARGS ?= torch==2.13.0

.PHONY: demo test venv airflow lint clean-demo

venv: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q $(TORCH_PIP_ARGS)
	$(PY) -m pip install -q -e '.[dev,embedded,airflow,train]'
	touch $(STAMP)

demo: venv
	$(BIN)/sentinel db upgrade
	$(BIN)/sentinel run --once --demo
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
