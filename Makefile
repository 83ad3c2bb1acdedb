# shoal: one-command set-up.  `make test` and `make demo` work on a fresh clone.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: test demo bench sysdeps venv clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test,bench]' --config-settings editable_mode=compat
	touch $(STAMP)

# System packages the tests need (graphviz's `dot`); see scripts/sysdeps.sh.
sysdeps:
	@scripts/sysdeps.sh

test: venv sysdeps
	$(BIN)/python -m pytest

demo: venv
	$(BIN)/python examples/demo.py

bench: venv
	for suite in core bag dataframe array distributed; do \
		$(BIN)/python -m benchmarks.run --suite $$suite --markdown docs/benchmarks.md || exit 1; \
	done

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache
