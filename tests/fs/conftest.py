"""Real mounts for the filesystem tests: the shared fixtures of ``tests/support/mounts.py``."""

from tests.support.mounts import backend, mount, proxied  # noqa: F401 - the fixtures
