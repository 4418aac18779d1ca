"""The walkthrough of ``docs/development.md`` ("Adding a path kind"), run:
the class and its row of the table are all the core, the lookups, the listing
and the errors need (the recipe's other files document it)."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest
import trio

from tcfs.errors import TcfsError
from tcfs.fs import tree
from tcfs.fs.context import FsContext
from tcfs.fs.core import FsCore
from tcfs.fs.inodes import ROOT_INODE
from tcfs.fs.kinds.steps import StepFile
from tcfs.fs.nodes import Rendered
from tcfs.protocol import Project, keys
from tcfs.store.local import LocalStore


def read_log(project: Project, step: str) -> bytes:
    """What the walkthrough's ``Steps.read_log`` does."""
    return project.store.get(keys.step_record_key(step, "log")).body


class Log(StepFile, Rendered):
    __slots__ = ()

    async def render(self, ctx: FsContext) -> bytes:
        return await ctx.run(read_log, ctx.project, self.step)


def test_a_new_kind_is_one_class_and_one_row(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tree, "_TOP", tree.build([*tree.TABLE, ("steps/<step>/log", Log)]))
    store = LocalStore(tmp_path / "bucket", "proj")
    store.put(keys.step_record_key("s1", "log"), b"built\n")
    core = FsCore(Project(store, "alice"), readme=b"")

    async def main() -> None:
        steps = await core.lookup(ROOT_INODE, "steps")
        step = await core.lookup(steps.ino, "s1")
        log = await core.lookup(step.ino, "log")
        assert log.size == len(b"built\n") and log.mode & 0o777 == 0o444
        fh = (await core.open(log.ino, os.O_RDONLY)).fh
        assert await core.read(fh, 0, 100) == b"built\n"
        await core.release(fh)
        for attempt in (core.open(log.ino, os.O_WRONLY), core.unlink(step.ino, "log")):
            with pytest.raises(TcfsError) as exc:
                await attempt
            assert exc.value.errno == errno.EACCES  # the defaults of a read-only file
        with pytest.raises(TcfsError) as exc:
            await core.lookup((await core.lookup(steps.ino, "s2")).ino, "log")
        assert exc.value.errno == errno.ENOENT  # no record: no file
        # `ls steps/<id>/`: the file shows while its record exists, and not after
        assert await listing(core, step.ino) == ["log", "status"]
        assert await listing(core, (await core.lookup(steps.ino, "s2")).ino) == ["status"]
        store.delete(keys.step_record_key("s1", "log"))
        assert await listing(core, step.ino) == ["status"]

    trio.run(main)


async def listing(core: FsCore, ino: int) -> list[str]:
    fh = await core.opendir(ino)
    try:
        return sorted(st.node.name for st in await core.listdir(fh, 0))
    finally:
        await core.releasedir(fh)
