# The two commands a new user runs are `make demo` and `make test`; see README.md.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
UV     := $(BIN)/uv
ARGS   ?=
PYTEST_ARGS ?=

.PHONY: demo test check format bench install-dev clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# uv installs an order of magnitude faster than pip; it is itself installed once with pip.
$(UV): | $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv

# Stamps make a second run a no-op unless pyproject.toml changed.
$(VENV)/.stamp-base: pyproject.toml | $(UV)
	$(UV) pip install --quiet --compile-bytecode --python $(BIN)/python -e .
	@touch $@

$(VENV)/.stamp-dev: pyproject.toml | $(UV)
	$(UV) pip install --quiet --compile-bytecode --python $(BIN)/python -e '.[dev]'
	@touch $@ $(VENV)/.stamp-base

$(VENV)/.stamp-bench: pyproject.toml | $(UV)
	$(UV) pip install --quiet --compile-bytecode --python $(BIN)/python -e '.[dev,bench]'
	@touch $@ $(VENV)/.stamp-dev $(VENV)/.stamp-base

install-dev: $(VENV)/.stamp-dev

demo: $(VENV)/.stamp-base
	$(BIN)/loopline demo $(ARGS)

check: $(VENV)/.stamp-dev
	$(BIN)/ruff format --check src tests bench
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy

format: $(VENV)/.stamp-dev
	$(BIN)/ruff format src tests bench
	$(BIN)/ruff check --fix src tests bench

test: $(VENV)/.stamp-dev
	$(MAKE) --no-print-directory check
	@$(BIN)/python -m compileall -q src  # imports stay fast where PYTHONDONTWRITEBYTECODE is set
	$(BIN)/pytest -n 2 --dist loadfile --durations=25 $(PYTEST_ARGS)

bench: $(VENV)/.stamp-bench
	$(BIN)/python -m bench.run $(ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
