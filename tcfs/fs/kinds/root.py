"""The mount's root, its ``README``, and ``why`` (the mount's last refusals)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tcfs.fs import handles as h
from tcfs.fs.kinds import guests
from tcfs.fs.nodes import Computed, Dir, Node, Stat

if TYPE_CHECKING:
    from tcfs.fs.context import FsContext


class Root(Dir):
    __slots__ = ()

    async def entries(self, ctx: FsContext) -> list[Stat]:
        made = [await guests.GuestEntry(p).stat(ctx) for p in ctx.guests.children(self.path)]
        return [*await super().entries(ctx), *made]


class Readme(Node):
    """How to use this mount, from inside it."""

    __slots__ = ()

    async def stat(self, ctx: FsContext, *, keep: bool = False) -> Stat:
        return Stat(self, len(ctx.readme))

    async def open_read(self, ctx: FsContext, ino: int) -> h.Handle:
        return h.SnapshotHandle(ino, ctx.readme)


class Why(Computed):
    """Never listed: why the mount refused what it refused lately (time,
    operation, path, errno and the reason the shell's one word leaves out)."""

    __slots__ = ()
    listed = False

    async def render(self, ctx: FsContext) -> bytes:
        return ctx.refusals.render()
