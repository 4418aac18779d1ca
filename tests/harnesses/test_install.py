"""The harness installer's cache, lock and errors, without touching a registry."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from tests.support.harnesses import install as inst


def finished(root: Path, name: str) -> Path:
    """A cache entry that looks like a finished install of ``name``."""
    pin = inst.PINS[name]
    prefix = root / pin.label
    exe = prefix / "node_modules" / ".bin" / pin.command
    exe.parent.mkdir(parents=True)
    exe.write_text("#!/bin/sh\n")
    exe.chmod(0o755)
    (prefix / inst.DONE).write_text("done\n")
    return exe


def test_a_finished_install_is_reused_without_a_package_manager(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    exe = finished(tmp_path, "claude-code")
    monkeypatch.setenv("PATH", "")  # npm cannot run: nothing may be installed again
    got = inst.install("claude-code", root=tmp_path)
    assert got.argv == [str(exe)]
    assert got.env({"PATH": "/usr/bin"})["PATH"].split(os.pathsep)[-1] == "/usr/bin"


def test_the_cache_root_comes_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TCFS_HARNESS_CACHE", str(tmp_path / "cache"))
    assert inst.cache_root() == tmp_path / "cache"
    monkeypatch.delenv("TCFS_HARNESS_CACHE")
    assert inst.cache_root() == Path.home() / ".cache" / "tcfs" / "harnesses"


def test_a_half_finished_install_is_removed_and_the_failure_is_clear(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    half = tmp_path / inst.PINS["codex"].label
    (half / "node_modules").mkdir(parents=True)
    (half / "node_modules" / "partial").write_text("x")
    monkeypatch.setenv("PATH", str(tmp_path / "no-bin"))
    with pytest.raises(inst.InstallError, match=r"codex-0\.169\.0: npm is not on PATH"):
        inst.install("codex", root=tmp_path)
    assert not (half / "node_modules" / "partial").exists()
    with pytest.raises(inst.InstallError, match="unknown harness 'nope'"):
        inst.install("nope", root=tmp_path)


def test_a_second_installer_waits_for_the_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lock = tmp_path / "x.lock"
    order: list[str] = []

    def second() -> None:
        with inst._locked(lock):
            order.append("2")

    with inst._locked(lock):
        waiter = threading.Thread(target=second)
        waiter.start()
        waiter.join(timeout=1.5)
        assert waiter.is_alive() and order == []  # blocked while the first holds the lock
        order.append("1")
    waiter.join(timeout=10)
    assert order == ["1", "2"]
    monkeypatch.setattr(inst, "LOCK_TIMEOUT", 0.5)
    with inst._locked(tmp_path / "y.lock"), pytest.raises(inst.InstallError, match="timed out"):
        take(tmp_path / "y.lock")


def take(lock: Path) -> None:
    with inst._locked(lock):
        pass
