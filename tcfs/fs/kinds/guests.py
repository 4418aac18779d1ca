"""Names a sandbox makes at the mount's root, kept on this mount only.

Harness sandboxes (Codex's and Claude Code's bubblewrap set-ups) make
``.git``, ``.codex``, ``.agents``, ``.aws``, ``.claude`` and the like under
every writable root, to bind something read-only over them.  Any name at the
root that starts with a dot is such a guest: ``mkdir`` and ``create`` make it
(and what lies below it) in this mount's memory, empty, so the sandbox can
mount over it; it never reaches the bucket, holds no data (a write is
refused) and goes with the mount.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tcfs.errors import NotFound
from tcfs.fs import handles as h
from tcfs.fs.nodes import Dir, Node, OpenMode, Stat

if TYPE_CHECKING:
    from tcfs.fs.context import FsContext


def is_guest_name(name: str) -> str:
    """The rule of a guest's name at the root: it starts with a dot."""
    if not name.startswith("."):
        raise NotFound(f"{name!r}: no such path")
    return name


class GuestEntry(Dir):
    """A guest path before this mount's memory says what it is."""

    __slots__ = ()
    lasting = False

    def for_create(self) -> Node:
        return GuestFile(self.path)

    async def stat(self, ctx: FsContext, *, keep: bool = False) -> Stat:
        kind = ctx.guests.kind_of(self.path)
        if kind is None:
            raise NotFound(f"no such path: {self.where}")
        return Stat(GuestDir(self.path) if kind == "dir" else GuestFile(self.path))

    async def mkdir(self, ctx: FsContext) -> Node:
        ctx.guests.add(self.path, is_dir=True)
        return GuestDir(self.path)

    async def rmdir(self, ctx: FsContext) -> None:
        ctx.guests.remove(self.path, is_dir=True)

    async def unlink(self, ctx: FsContext) -> None:
        ctx.guests.remove(self.path, is_dir=False)


class GuestDir(GuestEntry):
    __slots__ = ()
    perm = 0o755

    async def entries(self, ctx: FsContext) -> list[Stat]:
        return [await GuestEntry(p).stat(ctx) for p in ctx.guests.children(self.path)]


class GuestFile(Node):
    """An empty file to bind over: it opens, reads empty, refuses data."""

    __slots__ = ()
    perm = 0o644
    creatable = True
    writable = True
    direct_io = False

    async def stat(self, ctx: FsContext, *, keep: bool = False) -> Stat:
        if ctx.guests.kind_of(self.path) != "file":
            raise NotFound(f"no such path: {self.where}")
        return Stat(self, 0)

    async def open_read(self, ctx: FsContext, ino: int) -> h.Handle:
        return h.Handle(ino)

    async def open_write(self, ctx: FsContext, ino: int, how: OpenMode) -> h.Handle:
        if how.created:
            ctx.guests.add(self.path, is_dir=False)
        elif ctx.guests.kind_of(self.path) != "file":
            raise NotFound(f"no such path: {self.where}")
        return h.Handle(ino)  # its write: "this file is read-only"

    async def unlink(self, ctx: FsContext) -> None:
        ctx.guests.remove(self.path, is_dir=False)
