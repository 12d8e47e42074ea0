# One command per job; each creates or updates .venv first, so a fresh clone needs nothing else.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
DEMO_OUT ?= out/logbook

.PHONY: install demo spiral test sync-check docs lab clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev,lab]"
	touch $(STAMP)

install: $(STAMP)

# The quick logbook: every row of the PRX ablation table trained once on the CPU proxy (a few minutes on 2 cores).
demo: install
	$(BIN)/prx-nb logbook --preset quick --out $(DEMO_OUT)

# JiT's spiral toy (about 2 minutes on 2 cores).
spiral: install
	$(BIN)/prx-nb spiral --out out/spiral
	@echo "results: out/spiral/spiral.json  figure: out/spiral/spiral.png"

# The library, README and notebooks must be exactly what the notebooks say they are.
sync-check: install
	$(BIN)/nbdev-export
	$(BIN)/python tools/readme.py
	@git diff --quiet -- prx_nb README.md && test -z "$$(git status --porcelain -- prx_nb README.md)" \
	  || { git status --short -- prx_nb README.md; echo "nbdev-export or tools/readme.py changed files: the library or README is out of sync with nbs/"; exit 1; }
	$(BIN)/nbdev-clean
	@git diff --quiet -- nbs && test -z "$$(git status --porcelain -- nbs)" \
	  || { git status --short -- nbs; echo "nbdev-clean changed notebooks: run nbdev-clean and commit"; exit 1; }

# Two notebooks run at once, one thread each: two multi-threaded processes on two cores make OpenMP's
# spin-waits collide and run small models up to 10x slower.
test: sync-check
	OMP_NUM_THREADS=1 $(BIN)/nbdev-test --n-workers 2 --timing
	$(BIN)/python -m pytest tests -q

docs: install
	$(BIN)/python tools/readme.py
	@if command -v quarto >/dev/null 2>&1; then $(BIN)/nbdev-docs; fi
	$(BIN)/python tools/build_docs.py --out _site
	@echo "documentation: $$(pwd)/_site/index.html"

lab: install
	$(BIN)/jupyter lab nbs

clean:
	rm -rf _proc _docs _site out .pytest_cache
