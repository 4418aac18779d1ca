"""The mfusepy adapter's path-to-inode cache keeps the core's lookup counts
bounded: the high-level API never sends ``forget``."""

from __future__ import annotations

from pathlib import Path

import pytest
import trio

from tcfs.fs.core import FsCore
from tcfs.fs.inodes import ROOT_INODE
from tcfs.protocol import Project
from tcfs.store.local import LocalStore

adapter = pytest.importorskip("tcfs.fs.adapter_mfusepy")


def _core(tmp_path: Path) -> FsCore:
    return FsCore(Project(LocalStore(tmp_path / "bucket", "proj"), "alice"), readme=b"")


def test_entries_are_bounded_and_give_their_lookups_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(adapter, "MAX_ENTRIES", 8)
    core = _core(tmp_path)
    entries = adapter.Entries(core)

    async def main() -> None:
        memory = await core.lookup(ROOT_INODE, "memory")  # held as the kernel would
        for i in range(50):
            entries.put(f"/memory/ns{i}", await core.lookup(memory.ino, f"ns{i}"))

    trio.run(main)
    before = 2  # the root and memory/
    assert len(entries) == 8
    assert len(core.inodes) == before + 8  # the evicted ones were forgotten
    assert entries.get("/memory/ns49") is not None and entries.get("/memory/ns0") is None
    entries.drop("/memory")  # a directory's entries go with it
    assert len(entries) == 0 and len(core.inodes) == before


def test_an_entry_outlives_the_kernels_and_then_expires(tmp_path: Path) -> None:
    core = _core(tmp_path)
    entries = adapter.Entries(core)

    async def main() -> None:
        readme = await core.lookup(ROOT_INODE, "README")
        entries.put("/README", readme)
        await trio.sleep(readme.entry_timeout)  # the kernel's entry has expired
        assert entries.get("/README") == readme.ino
        await trio.sleep(adapter.ENTRY_GRACE_S)

    trio.run(main)
    assert entries.get("/README") is None
    assert len(core.inodes) == 1  # only the root is left


@pytest.mark.parametrize("name", ["._notes.md", ".DS_Store", ".Trashes"])
def test_finders_side_files_are_known(name: str) -> None:
    assert adapter.is_side_file(name)
    assert not adapter.is_side_file("notes.md")


def test_macos_mount_table_finds_tcfs_mounts() -> None:
    from tcfs import registry

    text = (
        "/dev/disk3s1s1 on / (apfs, sealed, local, read-only, journaled)\n"
        "tcfs@macfuse0 on /Users/a/my mnt (macfuse, nodev, nosuid, mounted by a)\n"
        "map auto_home on /System/Volumes/Data/home (autofs, automounted, nobrowse)\n"
    )
    assert registry.parse_bsd_mounts(text) == [
        registry.KernelMount("/", "apfs", None),
        registry.KernelMount("/Users/a/my mnt", registry.FSTYPE, None),
        registry.KernelMount("/System/Volumes/Data/home", "autofs", None),
    ]
