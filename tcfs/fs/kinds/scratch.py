"""A scratch name in a directory of memory keys or artifacts (``tcfs.fs.scratch``).

A file created under it stays on this mount until it is renamed onto a real
name (one value, one artifact) or removed.  A key the bucket already holds
under such a name (written by the CLI) is read, written and removed as the
path's own kind would.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from typing import TYPE_CHECKING, BinaryIO

import trio

from tcfs.errors import Busy, InvalidArgument, NotFound
from tcfs.fs import handles as h
from tcfs.fs.nodes import Node, OpenMode, Stat
from tcfs.fs.scratch import LINGER_S, ScratchFile, ScratchHandle

if TYPE_CHECKING:
    from tcfs.fs.context import FsContext

log = logging.getLogger(__name__)


class Scratch(Node):
    __slots__ = ()
    perm = 0o644
    creatable = True
    writable = True
    fixed_mode = False  # rsync and sed set their temporary file's mode

    def real(self) -> Node:
        """The node this path is when nothing is kept here (NotFound if none)."""
        from tcfs.fs import tree

        try:
            return tree.classify(self.path, scratch_names=False)
        except InvalidArgument:
            raise NotFound(f"no such file: {self.where}") from None

    async def stat(self, ctx: FsContext, *, keep: bool = False) -> Stat:
        file = ctx.scratch.get(self.path)
        if file is not None:
            return Stat(self, file.size, file.mtime)
        return await self.real().stat(ctx, keep=keep)

    def _handle(self, ctx: FsContext, ino: int, *, create: bool, how: OpenMode) -> h.Handle:
        file = ctx.scratch.create(self.path, ctx.spool_dir) if create else None
        file = file or ctx.scratch.get(self.path)
        if file is None:
            raise NotFound(f"no such file: {self.where}")
        return ScratchHandle(
            ino, file, append=how.append, on_idle=lambda: self._publish_later(ctx, file)
        )

    def _publish_later(self, ctx: FsContext, file: ScratchFile) -> None:
        """Publish ``file`` under its own name if it is left closed, neither
        renamed nor removed, for ``LINGER_S`` (see ``tcfs.fs.scratch``)."""

        async def publish() -> None:
            await trio.sleep(LINGER_S)
            if file.opens or file.renaming or ctx.scratch.get(self.path) is not file:
                return
            await self.publish(ctx)

        trio.lowlevel.spawn_system_task(publish)

    async def publish(self, ctx: FsContext) -> None:
        """Publish this scratch file under its own name where the directory's
        kind does so (artifacts); never raises (it may run as a system task)."""
        try:
            real = self.real()
            if real.publishes_scratch:
                await self.rename_to(ctx, real.for_create())
        except Exception as exc:  # it stays on this mount, as it was
            log.debug("%s stays on this mount: %s", self.where, exc)

    async def open_read(self, ctx: FsContext, ino: int) -> h.Handle:
        return self._handle(ctx, ino, create=False, how=OpenMode())

    async def open_write(self, ctx: FsContext, ino: int, how: OpenMode) -> h.Handle:
        handle = self._handle(ctx, ino, create=how.created, how=how)
        if how.truncate:
            await handle.truncate(0)
        return handle

    async def truncate(self, ctx: FsContext, size: int) -> None:
        file = ctx.scratch.get(self.path)
        if file is None:
            raise NotFound(f"no such file: {self.where}")
        await file.resize(size)

    async def unlink(self, ctx: FsContext) -> None:
        if ctx.scratch.get(self.path) is None:
            await self.real().unlink(ctx)
        else:
            ctx.scratch.drop(self.path)

    async def content(self, ctx: FsContext) -> tuple[BinaryIO, int]:
        file = ctx.scratch.get(self.path)
        if file is None:
            return await self.real().content(ctx)
        return file.reader(), file.size

    async def receive(self, ctx: FsContext, fileobj: BinaryIO, size: int) -> None:
        def copy() -> BinaryIO:
            spool: BinaryIO = tempfile.TemporaryFile(dir=ctx.spool_dir or None)  # noqa: SIM115
            shutil.copyfileobj(fileobj, spool)
            return spool

        file = ctx.scratch.adopt(self.path, await trio.to_thread.run_sync(copy), size)
        self._publish_later(ctx, file)

    async def rename_to(self, ctx: FsContext, dst: Node) -> None:
        file = ctx.scratch.get(self.path)
        if file is None:
            await self.real().rename_to(ctx, dst)
        elif isinstance(dst, Scratch):
            ctx.scratch.move(self.path, dst.path)
            if not file.opens:
                dst._publish_later(ctx, file)
        elif file.renaming:
            raise Busy(f"{self.where} is being renamed already")
        else:
            file.renaming = True
            try:
                await super().rename_to(ctx, dst)
            finally:
                file.renaming = False
