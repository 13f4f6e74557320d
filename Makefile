# ubemu: `make run` and `make test` set up .venv on first use (idempotent), then run.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
MPIEXEC := $(VENV)/bin/mpiexec
export NUMBA_NUM_THREADS ?= 1
export OMP_NUM_THREADS ?= 1

.PHONY: setup run test test-fast test-py test-mpi test-peer bench lint validate clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[mpi,dev]'
	touch $(STAMP)

run: $(STAMP)
	$(VENV)/bin/ubemu topo show ub-mesh-rack
	$(VENV)/bin/ubemu all_reduce -b 1K -e 16M -f 4 -c 1 --extra

test: test-py test-mpi

test-py: $(STAMP)
	$(PY) -m pytest tests

# the inner loop: everything but the slow tests (mpiexec jobs, million-NPU and memory runs)
test-fast: $(STAMP)
	$(PY) -m pytest tests -m "not slow" -x

test-mpi: $(STAMP)
	$(PY) tests/mpi/run_mpi_tests.py --mpiexec $(MPIEXEC) -n 2 -n 4

# ubemu against SimGrid SMPI on the same platforms (installs Debian's libsimgrid-dev; not in CI).
# SMPI's rows land in peer/build/results.json as they are measured (hours: 256 ranks); a rerun
# resumes. peer/results.json is the recorded run: python3 peer/run_smpi.py refreshes it.
test-peer: $(STAMP)
	bash peer/install_simgrid.sh
	$(PY) peer/run_smpi.py --resume --out peer/build/results.json
	$(PY) peer/compare.py peer/build/results.json

# ubemu against the published measurements of docs/data/ (fit and validation rows)
validate: $(STAMP)
	$(VENV)/bin/ubemu validate

bench: $(STAMP)
	$(PY) -m pytest benchmarks --benchmark-only --benchmark-columns=min,median,max -s

lint: $(STAMP)
	$(VENV)/bin/ruff check ubemu kernels tests benchmarks peer

clean:
	rm -rf $(VENV) build *.egg-info
