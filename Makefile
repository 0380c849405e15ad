# The two set-up commands are `make demo` and `make test`; each creates or refreshes .venv itself.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint typecheck unit bench test-claude clean venv

venv: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m loom_tui.demo

lint: $(STAMP)
	$(BIN)/ruff check loom_tui tests bench
	$(BIN)/ruff format --check loom_tui tests bench

typecheck: $(STAMP)
	$(BIN)/mypy loom_tui

# In parallel (pytest-xdist): 3 workers on 2 cores, because the plans run for real spend much of
# their time waiting on agents and tmux; tests/conftest.py orders the tests for `--dist worksteal`
# (the long ones dealt out evenly, the slow ones first).  PYTHONDONTWRITEBYTECODE is dropped here
# so that the workers and every `loom` subprocess reuse compiled bytecode (and pytest its rewritten
# test modules) instead of compiling the sources again in each process.
unit: $(STAMP)
	env -u PYTHONDONTWRITEBYTECODE $(BIN)/python -m pytest -q -n 3 --dist worksteal

test: lint typecheck unit

# loom with the real Claude Code CLI (from npm) against a fake API, offline; skips without npm/unshare.
test-claude: $(STAMP)
	$(BIN)/python -m pytest -v -raP -m claude_e2e tests/claude_e2e

bench: $(STAMP)
	@$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis
