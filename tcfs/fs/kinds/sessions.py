"""``sessions/<harness>/<id>.jsonl``: mirrored transcripts, growing live."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tcfs.fs import handles as h
from tcfs.fs.nodes import Dir, Node, Stat
from tcfs.fs.tailer import total_size

if TYPE_CHECKING:
    from tcfs.fs.context import FsContext

SUFFIX = ".jsonl"


class SessionsDir(Dir):
    __slots__ = ()

    async def entries(self, ctx: FsContext) -> list[Stat]:
        reader = ctx.tailer.reader
        found = await ctx.run(reader.harnesses) if reader else []
        return [Stat(c, 0) for name in found if (c := self.child(name))]


class Harness(Dir):
    __slots__ = ()

    async def entries(self, ctx: FsContext) -> list[Stat]:
        reader = ctx.tailer.reader
        found = await ctx.run(reader.sessions, self.name) if reader else []
        return [Stat(c, None) for sid in found if (c := self.child(sid + SUFFIX))]


class Session(Node):
    """Every part concatenated, readable at any offset; its size is fresh
    within about a second while it is open, so ``tail -f`` follows it."""

    __slots__ = ()
    direct_io = False

    @property
    def harness(self) -> str:
        return self.path[1]

    @property
    def session_id(self) -> str:
        return self.name[: -len(SUFFIX)]

    async def stat(self, ctx: FsContext, *, keep: bool = False) -> Stat:
        return Stat(self, total_size(await ctx.tailer.parts(self.harness, self.session_id)))

    def live_size(self, ctx: FsContext, ino: int) -> int | None:
        return ctx.tailer.size(ino)

    async def open_read(self, ctx: FsContext, ino: int) -> h.Handle:
        parts = await ctx.tailer.parts(self.harness, self.session_id)
        ctx.tailer.track(ino, self.harness, self.session_id, parts)
        return h.SessionHandle(ino, ctx.tailer)
