# tcfs: every target does its own set-up.
VENV    ?= .venv
PY      := $(VENV)/bin/python
PYTEST_ARGS ?=
# test processes: the suite mostly waits (mounts, harness programs, the fake model),
# so three share two cores well
TEST_JOBS ?= 3
APT_PKGS := fuse3 libfuse3-dev pkg-config

# `make check`'s tier: no FUSE mount, real harness program, browser, soak, tracecraft CLI or slow test
CHECK_MARKS := not mount and not harness and not browser and not soak and not interop and not slow
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
APT_INSTALL := $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq

.PHONY: setup tools check test test-mfusepy test-harnesses test-harnesses-latest chromium npm demo dist bench bench-scale bench-rtt \
	bench-rtt-seaweedfs lint format clean

# tcfs alone (what `make demo` needs): FUSE from apt, the package in $(VENV)
$(VENV)/.core: pyproject.toml
	@missing=""; for p in $(APT_PKGS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then echo "installing apt packages:$$missing"; $(APT_INSTALL) $$missing; fi
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e .
	touch $@

# and what the tests, the benchmarks and the linters need
$(VENV)/.installed: $(VENV)/.core
	$(PY) -m pip install -q -e '.[test,hf,bench,dev]'
	touch $@

setup: $(VENV)/.installed
	@echo "tcfs is installed in $(VENV): run $(VENV)/bin/tcfs, or '. $(VENV)/bin/activate' first"

tools:  # what the ordinary-tools tests drive on a mount besides coreutils, tar, sed and vim
	@command -v rsync >/dev/null 2>&1 || { echo "installing rsync"; $(APT_INSTALL) rsync; }

chromium:  # the replay viewer's browser tests
	@dpkg -s chromium >/dev/null 2>&1 || { echo "installing chromium"; $(APT_INSTALL) chromium; }

npm:  # installs the real harness programs (cached in $(TCFS_HARNESS_CACHE)); bwrap and socat for their sandboxes
	@command -v npm >/dev/null 2>&1 || { echo "installing nodejs npm"; $(APT_INSTALL) nodejs npm; }
	@command -v bwrap >/dev/null 2>&1 || { echo "installing bubblewrap"; $(APT_INSTALL) bubblewrap; }
	@command -v socat >/dev/null 2>&1 || { echo "installing socat"; $(APT_INSTALL) socat; }

# lint and the tests that need no FUSE, npm, browser, soak or tracecraft CLI: about 80 s on
# 2 cores (969 tests; 1 min 20 s measured from a fresh clone, lint included)
check: lint
	$(PY) -m pytest -n $(TEST_JOBS) --dist worksteal -m "$(CHECK_MARKS)" $(PYTEST_ARGS)

# every test but the harness conformance suite: about 11 minutes on 2 cores (1,247 tests)
test: setup tools chromium npm
	$(PY) -m pytest -n $(TEST_JOBS) --dist worksteal $(PYTEST_ARGS)

demo: $(VENV)/.core
	$(PY) -m tcfs.demo
	@echo "tcfs is installed in $(VENV): run $(VENV)/bin/tcfs, or '. $(VENV)/bin/activate' first"

# the sdist and the wheel in dist/, checked (twine, one top-level package, the hf extra)
dist: setup
	rm -rf dist build tcfs.egg-info
	$(PY) -m build --outdir dist .
	rm -rf build tcfs.egg-info
	TCFS_DIST=dist $(PY) -m pytest -p no:cacheprovider -n 0 -q tests/test_dist.py

bench: setup
	$(PY) -m bench

bench-scale: setup
	$(PY) -m bench.fleet

bench-rtt: setup  # round trips only: each command at +0 and +20 ms per request (~7 min)
	$(PY) -m bench --only rtt --backends s3 --out bench/results/rtt \
		--baseline bench/results/rtt/baseline.json

bench-rtt-seaweedfs: setup  # the same on SeaweedFS, a server that answers in 2-5 ms (~7 min)
	$(PY) -m bench --only rtt --backends s3 --s3-server seaweedfs \
		--out bench/results/rtt-seaweedfs

# the real-mount suites through the mfusepy binding (libfuse's high-level API, the one
# macOS uses) instead of pyfuse3
MFUSEPY_SUITES = tests/fs/test_mount.py tests/fs/test_killed_readers.py \
	tests/fs/test_one_write.py tests/fs/test_tools.py tests/fs/test_reservations.py \
	tests/fs/test_shutdown.py tests/fs/test_cli.py tests/fs/test_refusals.py \
	tests/fs/test_round_trips.py
test-mfusepy: setup tools
	TCFS_TEST_FUSE=mfusepy $(PY) -m pytest -p no:cacheprovider -n $(TEST_JOBS) --dist worksteal \
		$(MFUSEPY_SUITES) $(PYTEST_ARGS)

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

format: setup
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache *.egg-info build dist

# The real harness programs (npm, PyPI) against a fake model on loopback; the
# installs are cached in $(TCFS_HARNESS_CACHE) (default ~/.cache/tcfs/harnesses).
test-harnesses: setup npm
	TCFS_HARNESS_SUITE=1 $(PY) -m pytest -p no:cacheprovider -v --timeout 900 tests/harnesses $(PYTEST_ARGS)

# the harness suites (conformance, hooks, own settings, sandboxes) against the newest published
# version of each harness instead of the pins
test-harnesses-latest: setup npm
	TCFS_HARNESS_VERSIONS=latest TCFS_HARNESS_SUITE=1 $(PY) -m pytest -p no:cacheprovider -v \
		--timeout 900 tests/harnesses tests/hooks/test_real_harnesses.py \
		tests/hooks/test_own_settings.py tests/hooks/test_sandboxes.py $(PYTEST_ARGS)
