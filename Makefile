# Two entry points for a fresh machine (see README):
#   make quickstart   install, then run the quickstart pipeline on the embedded phantom
#   make test         install, then lint + run the test suite
# torch is pinned to the CPU wheel and installed before the rest, otherwise pip pulls a
# multi-GB CUDA build.

VENV ?= .venv
PY := $(VENV)/bin/python
TORCH_PIN ?= torch==2.13.0
PYTEST_ARGS ?=

.PHONY: install quickstart test test-slow lint

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q "$(TORCH_PIN)"
	$(PY) -m pip install -q -e ".[dev]"
	touch $@

install: $(VENV)/.installed

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

# pytest exits 5 when it collected no test: that is a failure here, not a pass.
test: lint
	$(VENV)/bin/pytest -q $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests" >&2; exit 1; fi; exit $$rc

test-slow: install
	$(VENV)/bin/pytest -q -m slow $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no slow tests" >&2; exit 1; fi; exit $$rc

# The pipeline's stages call `mrisynth`, so the venv's bin/ goes first on PATH.
quickstart: install
	PATH="$(abspath $(VENV))/bin:$$PATH" DVC_NO_ANALYTICS=1 dvc repro experiments/quickstart/dvc.yaml
	PATH="$(abspath $(VENV))/bin:$$PATH" DVC_NO_ANALYTICS=1 dvc metrics show
