# The two commands of the README. `make demo` sets everything up (ngspice from Debian when run as
# root, a virtual environment with the locked versions and the package) and writes the report of the
# built-in example; `make test` runs the tests.
#
# Versions: `requirements/lock-py311-linux.txt` pins every package (with hashes) to the versions CI
# tested on CPython 3.11, Linux x86_64. `make lock` regenerates it from pyproject.toml's ranges (with
# uv); `make test-latest` builds a second environment from the newest releases those ranges allow and
# runs the fast tests there.
VENV ?= .venv
VENV_LATEST ?= .venv-latest
PY := $(VENV)/bin/python
REPORT_DIR ?= report
LOCK := requirements/lock-py311-linux.txt
# where the CPU wheel of torch lies (here: a local folder; elsewhere: PyTorch's CPU package index)
LOCK_FIND_LINKS ?= $(if $(wildcard /opt/wheels),--find-links /opt/wheels,)

.PHONY: setup demo test test-all test-slow test-latest lock clean

$(VENV)/.installed: pyproject.toml scripts/setup.sh $(LOCK)
	bash scripts/setup.sh $(VENV)
	touch $@

setup: $(VENV)/.installed

demo: setup
	$(VENV)/bin/thermotwin demo --out $(REPORT_DIR)

test: setup
	$(PY) -m pytest -q -m "not slow"

test-slow: setup
	$(PY) -m pytest -q -m slow

test-all: setup
	$(PY) -m pytest -q

# A fresh environment from the newest releases pyproject.toml allows (no lock), fast tests only.
test-latest:
	rm -rf $(VENV_LATEST)
	THERMOTWIN_LATEST=1 bash scripts/setup.sh $(VENV_LATEST)
	$(VENV_LATEST)/bin/python -m pip list --format=freeze | grep -iE '^(numpy|scipy|numba|matplotlib|pyspice|torch)=' || true
	$(VENV_LATEST)/bin/python -m pytest -q -m "not slow" -p no:cacheprovider

# Regenerate the lock from pyproject.toml (review the diff, then run `make test` and `make test-latest`).
lock:
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q "uv>=0.5"
	{ echo "# Exact versions CI tested (CPython 3.11, Linux x86_64). Do not edit: regenerate with"; \
	  echo "#     make lock"; \
	  echo "# from pyproject.toml's ranges and requirements/overrides.txt (torch's CPU build)."; } > $(LOCK).tmp
	$(VENV)/bin/uv pip compile pyproject.toml --extra test --extra dask --extra timing \
	  --python-version 3.11 --python-platform x86_64-manylinux_2_28 $(LOCK_FIND_LINKS) \
	  --override requirements/overrides.txt --generate-hashes --upgrade --no-header >> $(LOCK).tmp
	mv $(LOCK).tmp $(LOCK)

clean:
	rm -rf $(VENV) $(VENV_LATEST) $(REPORT_DIR)
