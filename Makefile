# tcfs: every target does its own set-up.
VENV    ?= .venv
PY      := $(VENV)/bin/python
PYTEST_ARGS ?=
# test processes: the suite mostly waits (mounts, harness programs, the fake model),
# so three share two cores well
TEST_JOBS ?= 3
APT_PKGS := fuse3 libfuse3-dev pkg-config

.PHONY: setup test test-harnesses demo bench bench-scale bench-rtt bench-rtt-seaweedfs lint format clean

$(VENV)/.installed: pyproject.toml
	@missing=""; for p in $(APT_PKGS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing apt packages:$$missing"; \
		SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
	fi
	@dpkg -s chromium >/dev/null 2>&1 || { echo "installing chromium (the replay viewer's browser tests)"; SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium; }
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test,hf,bench,dev]'
	touch $@

setup: $(VENV)/.installed

test: setup
	$(PY) -m pytest -n $(TEST_JOBS) --dist worksteal $(PYTEST_ARGS)

demo: setup
	$(PY) -m tcfs.demo

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

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

format: setup
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache *.egg-info

# The real harness programs (npm, PyPI) against a fake model on loopback; the
# installs are cached in $(TCFS_HARNESS_CACHE) (default ~/.cache/tcfs/harnesses).
test-harnesses: setup
	@command -v npm >/dev/null 2>&1 || { \
		echo "installing apt packages: nodejs npm"; \
		SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq nodejs npm; }
	TCFS_HARNESS_SUITE=1 $(PY) -m pytest -p no:cacheprovider -v --timeout 900 tests/harnesses $(PYTEST_ARGS)
