"""Fixtures for the mirror: an isolated HOME for the harnesses, a bucket."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tcfs.store.local import LocalStore
from tests.support.mirroring import HARNESS_ENV, Homes


@pytest.fixture
def homes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tcfs_home: Path) -> Homes:
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    for var in HARNESS_ENV:
        monkeypatch.delenv(var, raising=False)
    project = tmp_path / "work" / "my_app.v2"
    project.mkdir(parents=True)
    return Homes(home, project, tmp_path / "bucket", tcfs_home / "mirror-state")


@pytest.fixture
def local_store(homes: Homes) -> Iterator[LocalStore]:
    s = LocalStore(homes.bucket, "proj")
    yield s
    s.close()
