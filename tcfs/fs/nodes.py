"""What a path in the mount *is*: one class per path kind.

A node is a path (a tuple of names below the mountpoint) of one kind.  Its
class declares the kind's mode and capabilities and implements what the
kind does with each operation, over protocol calls made through the
``FsContext``:

* ``stat``       does it exist, and how big is it (``NotFound`` if not)
* ``entries``    a directory's listing
* ``open_read``  / ``open_write``: the ``Handle`` an open file gets
* ``unlink``, ``mkdir``, ``rmdir``, ``truncate`` (``truncate -s`` on a closed file)

Every default refuses with the error a user expects from a read-only path,
so a kind implements only what it supports.  Which class a path is belongs
to the table in ``tree.py``; ``core.py`` only keeps inodes and handles.
"""

from __future__ import annotations

import logging
import stat as stat_
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from tcfs.errors import (
    AccessDenied,
    CorruptObject,
    Exists,
    InvalidArgument,
    IsADirectory,
    NotFound,
)
from tcfs.fs import handles as h

if TYPE_CHECKING:
    from tcfs.fs.context import FsContext

log = logging.getLogger(__name__)

Path = tuple[str, ...]


@dataclass(frozen=True)
class OpenMode:
    """How a file is opened for writing."""

    #: the file starts empty: created, or opened with ``O_TRUNC``
    truncate: bool = False
    #: ``O_APPEND``: every write goes to the end
    append: bool = False
    #: made by ``create`` (not an ``open`` of an existing name)
    created: bool = False


@dataclass(frozen=True)
class Stat:
    """A node that exists, with its size when known (``None``: ask again)."""

    node: Node
    size: int | None = 0
    mtime: float | None = None


class Node:
    """Base: a read-only regular file that cannot be opened."""

    __slots__ = ("path",)

    is_dir: ClassVar[bool] = False
    #: permission bits ``ls -l`` shows
    perm: ClassVar[int] = 0o444
    #: content that changes under the kernel's feet: never cached, read to EOF
    #: whatever size ``stat`` says
    direct_io: ClassVar[bool] = True
    #: blocking files are resolvable by name but never listed
    listed: ClassVar[bool] = True
    #: ``create`` in the parent directory makes this kind of file
    creatable: ClassVar[bool] = False
    #: may be opened for writing and truncated
    writable: ClassVar[bool] = False
    #: exists by its path alone and never turns into another kind: the
    #: kernel may keep its entry long (``LASTING_TTL_S``)
    lasting: ClassVar[bool] = False

    def __init__(self, path: Path) -> None:
        self.path = path

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Node) and type(other) is type(self) and other.path == self.path

    def __hash__(self) -> int:
        return hash((type(self), self.path))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({'/'.join(self.path)!r})"

    @property
    def name(self) -> str:
        return self.path[-1] if self.path else ""

    @property
    def where(self) -> str:
        return "/".join(self.path) or "/"

    @property
    def mode(self) -> int:
        return (stat_.S_IFDIR if self.is_dir else stat_.S_IFREG) | self.perm

    @classmethod
    def check(cls, path: Path) -> None:
        """Rules on the whole path beyond each name's own (a memory key's depth)."""

    def for_create(self) -> Node:
        """The node ``create`` makes at this path (a memory name: a value)."""
        return self

    # ----- what exists -----

    async def stat(self, ctx: FsContext, *, keep: bool = False) -> Stat:
        """``NotFound`` if absent.  ``keep``: a lookup, whose open may follow."""
        return Stat(self, 0)

    async def restat(self, ctx: FsContext) -> Stat:
        """What ``getattr`` of an inode of this kind shows."""
        return await self.stat(ctx)

    def live_size(self, ctx: FsContext, ino: int) -> int | None:
        """A size fresher than ``stat``'s, while the file is open (``tail -f``)."""
        return None

    # ----- operations, refused unless a kind supports them -----

    async def open_read(self, ctx: FsContext, ino: int) -> h.Handle:
        raise AccessDenied(f"cannot open {self.where}")

    async def open_write(self, ctx: FsContext, ino: int, how: OpenMode) -> h.Handle:
        raise AccessDenied(f"{self.where} is read-only")

    async def truncate(self, ctx: FsContext, size: int) -> None:
        """``truncate(path)`` with no open handle: only some kinds mean anything."""

    async def unlink(self, ctx: FsContext) -> None:
        raise AccessDenied(f"{self.where} cannot be removed")

    async def mkdir(self, ctx: FsContext) -> Node:
        raise AccessDenied(f"cannot make a directory at {self.where}")

    async def rmdir(self, ctx: FsContext) -> None:
        raise AccessDenied(f"cannot remove {self.where}")


class Dir(Node):
    """A directory: exists by its name unless a kind says otherwise."""

    __slots__ = ()
    is_dir = True
    perm = 0o555
    direct_io = False
    lasting = True

    async def stat(self, ctx: FsContext, *, keep: bool = False) -> Stat:
        return Stat(self)

    async def entries(self, ctx: FsContext) -> list[Stat]:
        """The listing: by default the fixed names the tree gives this directory."""
        from tcfs.fs import tree

        return [Stat(c, 0 if c.is_dir else None) for c in tree.fixed_children(self) if c.listed]

    def child(self, name: str) -> Node | None:
        """The node ``name`` names here, or None (logged) for a name written by
        another tool that breaks the rules: such entries are not listed."""
        from tcfs.fs import tree

        try:
            return tree.classify((*self.path, name))
        except (InvalidArgument, NotFound):
            log.debug("hiding entry with a name tcfs does not accept: %r", (*self.path, name))
            return None

    async def unlink(self, ctx: FsContext) -> None:
        raise IsADirectory(f"{self.where} is a directory")

    async def mkdir(self, ctx: FsContext) -> Node:
        raise Exists(f"{self.where} exists")


class WritableDir(Dir):
    """A directory that files can be created in."""

    __slots__ = ()
    perm = 0o755


class Rendered(Node):
    """A small file whose content is one protocol read, rendered as text.

    A lookup fetches and renders it (the size ``stat`` shows); the open that
    follows that lookup reuses the render, so ``cat`` costs one request.  A
    malformed object still exists: it is listed, and reading it is ``EIO``.
    """

    __slots__ = ()

    async def render(self, ctx: FsContext) -> bytes:
        return (await self.fetch(ctx))[0]

    async def fetch(self, ctx: FsContext) -> tuple[bytes, object]:
        """The content and the protocol record it was rendered from; a kind
        overrides this or ``render``."""
        return await self.render(ctx), None

    async def stat(self, ctx: FsContext, *, keep: bool = False) -> Stat:
        try:
            body, record = await self.fetch(ctx)
        except CorruptObject as exc:
            log.debug("%s: %s", self.where, exc)
            return Stat(self, 0)
        if keep:
            ctx.rendered.keep(self, body, record)
        return Stat(self, len(body))

    async def open_read(self, ctx: FsContext, ino: int) -> h.Handle:
        body = ctx.rendered.take(self)
        if body is None:
            body = await self.render(ctx)
        return h.SnapshotHandle(ino, body)


class Computed(Node):
    """A file computed at ``open`` from more than one record (``stat`` costs
    nothing and says 0 bytes: read it to the end)."""

    __slots__ = ()

    async def render(self, ctx: FsContext) -> bytes:
        raise NotImplementedError

    async def open_read(self, ctx: FsContext, ino: int) -> h.Handle:
        return h.SnapshotHandle(ino, await self.render(ctx))


class TextFile(Node):
    """A small text file that every ``write()`` sends whole to the bucket, so
    a failure is the write's error, which bash's builtin ``echo`` reports."""

    __slots__ = ()
    perm = 0o644
    creatable = True
    writable = True
    #: the largest text accepted (``EFBIG`` beyond), and what to call it
    limit: ClassVar[int]
    what: ClassVar[str]

    async def commit(self, ctx: FsContext, text: str) -> None:
        raise NotImplementedError

    async def open_write(self, ctx: FsContext, ino: int, how: OpenMode) -> h.Handle:
        async def commit(text: str) -> None:
            await self.commit(ctx, text)

        return h.TextWriter(ino, commit, limit=self.limit, what=self.what, created=True)

    def editor(
        self,
        ctx: FsContext,
        ino: int,
        how: OpenMode,
        current: h.Loader,
        *,
        commit_empty: bool = False,
    ) -> h.TextWriter:
        """A writer that edits the current text (``current``) when the open
        does not start empty: ``>>`` appends to it."""

        async def commit(text: str) -> None:
            await self.commit(ctx, text)

        return h.TextWriter(
            ino,
            commit,
            limit=self.limit,
            what=self.what,
            base=current,
            append=how.append,
            commit_empty=commit_empty,
            created=how.truncate,
        )


class Blocking(Node):
    """A file whose first read blocks on the mount's poller; never listed."""

    __slots__ = ()
    listed = False

    def produce(self, ctx: FsContext) -> Callable[[], Awaitable[bytes]]:
        raise NotImplementedError

    async def open_read(self, ctx: FsContext, ino: int) -> h.Handle:
        return h.BlockingHandle(ino, self.produce(ctx))
