# natplan — one command to set up and run the demo, one to run the tests.
#   make demo    fresh machine → venv, install, validate and plan the yuci-street scenario
#   make test    lint, type-check and run the test suite (what CI runs)
#   make bench   long benchmarks (not part of the tests)

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
OUT    ?= out

.PHONY: setup demo test lint browser bench clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

demo: setup
	$(BIN)/natplan validate scenarios/yuci-street
	$(BIN)/natplan plan scenarios/yuci-street --out $(OUT)/yuci-street --time-limit 10
	$(BIN)/natplan validate scenarios/nanjing-xinjiekou
	$(BIN)/natplan plan scenarios/nanjing-xinjiekou --out $(OUT)/nanjing-xinjiekou --time-limit 10
	@echo "open $(OUT)/yuci-street/index.html (documents) and map.html in a browser"

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	cd bench && MYPYPATH=.. ../$(BIN)/mypy --config-file ../pyproject.toml *.py  # benchmark scripts (top-level modules)

# Browser tests drive Debian's chromium with a CJK font (zh pages are measured with real glyphs);
# install them when we can (root with apt-get).
browser:
	@if [ ! -x /usr/bin/chromium ] || [ ! -d /usr/share/fonts/truetype/wqy ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-wqy-microhei >/dev/null) \
	      || echo "could not install chromium: browser tests will be skipped (or fail under CI)"; \
	  else echo "no /usr/bin/chromium: browser tests will be skipped (apt-get install chromium)"; fi; \
	fi

# Two worker processes (pytest-xdist): CI has 2 cores; the suite takes ~5 min so, ~10 min serially.
test: setup browser lint
	$(BIN)/python -m pytest -q -n 2

bench: setup
	$(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) $(OUT) .pytest_cache .mypy_cache .ruff_cache .hypothesis
