# The two commands of the README. Both create/refresh .venv with the Python on PATH (3.11 or newer).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test bench install clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[test]"
	touch $(STAMP)

install: $(STAMP)

## make demo: a small sweep on the embedded MNIST digits, its phase analysis, then the app on :8050
demo: $(STAMP)
	$(PY) -m gpicl_phase demo

## make test: install what tests need (Chromium for the browser tests, when apt-get can), run the suite
test: $(STAMP)
	bash scripts/install_chromium.sh || echo "warning: could not install Chromium; browser tests will say so"
	$(PY) -m pytest

## make bench: the CPU benchmark suite (see BENCHMARKS.md)
bench: $(STAMP)
	$(PY) -m pip install --quiet torch==2.13.0 || echo "warning: torch unavailable; PyTorch comparisons skipped"
	$(PY) benchmarks/run_all.py

clean:
	rm -rf $(VENV) runs .pytest_cache
