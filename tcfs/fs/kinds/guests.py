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

from tcfs.errors import Exists, IsADirectory, NotADirectory, NotEmpty, NotFound
from tcfs.fs import handles as h
from tcfs.fs.nodes import Dir, Node, OpenMode, Path, Stat

if TYPE_CHECKING:
    from tcfs.fs.context import FsContext


class Guests:
    """The guest paths of one mount: each a directory or an empty file."""

    def __init__(self) -> None:
        self._dirs: set[Path] = set()
        self._files: set[Path] = set()

    def kind_of(self, path: Path) -> type[Node] | None:
        if path in self._dirs:
            return GuestDir
        if path in self._files:
            return GuestFile
        return None

    def add(self, path: Path, *, is_dir: bool) -> None:
        parent = path[:-1]
        if len(parent) > 0 and parent not in self._dirs:
            raise NotFound(f"no such directory: {'/'.join(parent)}")
        if self.kind_of(path) is not None:
            raise Exists(f"{'/'.join(path)} exists")
        (self._dirs if is_dir else self._files).add(path)

    def children(self, path: Path) -> list[Path]:
        depth = len(path) + 1
        return sorted(p for p in self._dirs | self._files if len(p) == depth and p[:-1] == path)

    def remove(self, path: Path, *, is_dir: bool) -> None:
        kind = self.kind_of(path)
        if kind is None:
            raise NotFound(f"no such path: {'/'.join(path)}")
        if (kind is GuestDir) != is_dir:
            raise (NotADirectory if is_dir else IsADirectory)(f"{'/'.join(path)}: wrong kind")
        if self.children(path):
            raise NotEmpty(f"{'/'.join(path)} is not empty")
        (self._dirs if is_dir else self._files).discard(path)


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
        return Stat(kind(self.path))

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
        if ctx.guests.kind_of(self.path) is not GuestFile:
            raise NotFound(f"no such path: {self.where}")
        return Stat(self, 0)

    async def open_read(self, ctx: FsContext, ino: int) -> h.Handle:
        return h.Handle(ino)

    async def open_write(self, ctx: FsContext, ino: int, how: OpenMode) -> h.Handle:
        if how.created:
            ctx.guests.add(self.path, is_dir=False)
        elif ctx.guests.kind_of(self.path) is not GuestFile:
            raise NotFound(f"no such path: {self.where}")
        return h.Handle(ino)  # its write: "this file is read-only"

    async def unlink(self, ctx: FsContext) -> None:
        ctx.guests.remove(self.path, is_dir=False)
