"""The soak drives real mounts with the filesystem tests' fixture."""

from tests.fs.conftest import mount  # noqa: F401 - the fixture, shared
