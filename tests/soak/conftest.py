"""The soak drives real mounts with the filesystem tests' fixture."""

from tests.support.mounts import mount  # noqa: F401 - the fixture, shared
