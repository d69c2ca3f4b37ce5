# The two commands: `make run` and `make test`. Both set up what they need.
PYTHON ?= python3.11
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml tests/example_plugin/pyproject.toml | sha1sum | cut -c1-12)

.PHONY: run test install clean bench bench-quick

$(STAMP): pyproject.toml tests/example_plugin/pyproject.toml
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "$(PYTHON) not found: install Python 3.11+ or run make PYTHON=python3"; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	$(PY) -m pip install -q -e tests/example_plugin
	rm -f $(VENV)/.installed-*
	touch $@

install: $(STAMP)

# First `make run` on a new checkout: init creates the admin (generated password) and the
# demo profile, and prints the login and the profile's key and secret once, above the
# hub's log. Later runs skip init; `gridlinks run` itself creates nothing, prints no secret.
run: $(STAMP)
	@test -e "$${GRIDLINKS_DATA_DIR:-data}/hub.db" || $(VENV)/bin/gridlinks init --demo --config config/hub.yaml
	$(VENV)/bin/gridlinks run --config config/hub.yaml

# Two pytest workers (one per core; tests/support.py gives each its own port range),
# whole files to one worker so a file's shared hub starts once.
PYTEST_WORKERS ?= 2
test: $(STAMP)
	bash tests/setup_clients.sh
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy
	$(PY) -m pytest -n $(PYTEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) .venv-* data build *.egg-info

# Benchmarks (docs/benchmarks.md): `bench` is the full run that rewrites bench/results/<date>.json
# and docs/benchmarks.{md,png} (about 13 minutes); `bench-quick` is a smoke run under a minute.
bench: $(STAMP)
	bash bench/tools.sh --full
	$(PY) -c 'import matplotlib' 2>/dev/null || $(PY) -m pip install -q -e '.[bench]'
	$(PY) -m bench.run $(BENCH_ARGS)

bench-quick: $(STAMP)
	bash bench/tools.sh
	$(PY) -m bench.run --quick $(BENCH_ARGS)
