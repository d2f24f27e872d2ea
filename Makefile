# The two commands a new user needs: `make demo` and `make test` (each sets itself up).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.daudit-installed
# the code before issue 17, measured beside this checkout by `make bench`
BENCH_BASELINE ?= 515b280

.PHONY: install demo test bench clean-cache

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $(STAMP)

install: $(STAMP)

## make demo: LOGG-ERR-BASE-01 on the built-in demo data (simulated on first use)
demo: $(STAMP)
	$(BIN)/python -m daudit run --demo

## make test: the test suite (small data; about 10-15 minutes on 2 cores)
test: $(STAMP)
	$(BIN)/python -m pytest -q

## make bench: speed and memory against scikit-learn and the baseline commit (about 1.5 hours); writes
## bench/RESULTS.md (bench/cluster_1m.py, the 1M x 4096 run on 4 workers, takes hours: run it on its own)
bench: $(STAMP)
	$(BIN)/python bench/memory_probe.py
	$(BIN)/python bench/run_bench.py --baseline $(BENCH_BASELINE)

clean-cache:
	rm -rf data_cache/zarr data_cache/stats
