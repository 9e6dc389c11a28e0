# `make run` starts PayLink standalone; `make test` runs the suite. Both install what they need.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: run test check fmt bench bench-purchases chaos screenshots clean

$(STAMP): requirements.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $(STAMP)

run: $(STAMP)
	$(PY) -m standalone

# pytest exits 5 when it collects no tests; that is not a failure of the code under test.
test: $(STAMP)
	$(PY) -m pytest $(PYTEST_ARGS); rc=$$?; if [ $$rc -eq 5 ]; then echo "no tests collected"; exit 0; fi; exit $$rc

check: $(STAMP)
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy api workers shared standalone

fmt: $(STAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

bench: $(STAMP)
	$(PY) -m bench.catalog

# Purchase throughput and CPU per purchase (needs wrk). Arguments: BENCH_ARGS="--workers 2".
bench-purchases: $(STAMP)
	$(PY) -m bench.purchases $(BENCH_ARGS)

chaos: $(STAMP)
	$(PY) -m bench.chaos

# Refresh the README's pictures of /demo and /console (docs/*.png) from the browser tests.
screenshots: $(STAMP)
	PAYLINK_SCREENSHOTS=1 $(PY) -m pytest tests/browser

clean:
	rm -rf $(VENV) .standalone .testdata
