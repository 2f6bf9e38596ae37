# The two commands of the README. `make demo` sets everything up (ngspice from Debian when run as
# root, a virtual environment with the package) and writes the report of the built-in example;
# `make test` runs the tests.
VENV ?= .venv
PY := $(VENV)/bin/python
REPORT_DIR ?= report

.PHONY: setup demo test test-all clean

$(VENV)/.installed: pyproject.toml scripts/setup.sh
	bash scripts/setup.sh $(VENV)
	touch $@

setup: $(VENV)/.installed

demo: setup
	$(VENV)/bin/thermotwin demo --out $(REPORT_DIR)

test: setup
	$(PY) -m pytest -q -m "not slow"

test-all: setup
	$(PY) -m pytest -q

clean:
	rm -rf $(VENV) $(REPORT_DIR)
