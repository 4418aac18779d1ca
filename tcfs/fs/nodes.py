"""What a path in the mount *is*: one class per path kind.

A node is a path (a tuple of names below the mountpoint) of one kind.  Its
class declares the kind's mode and capabilities and implements what the
kind does with each operation, over protocol calls made through the
``FsContext``:

* ``stat``       does it exist, and how big is it (``NotFound`` if not)
* ``entries``    a directory's listing
* ``open_read``  / ``open_write``: the ``Handle`` an open file gets
* ``unlink``, ``mkdir``, ``rmdir``, ``truncate`` (``truncate -s`` on a closed file)
* ``rename_to``  (``content`` of the old name, ``receive`` at the new one)

Every default refuses with the error a user expects from a read-only path,
so a kind implements only what it supports.  Which class a path is belongs
to the table in ``tree.py``; ``core.py`` only keeps inodes and handles.
"""

from __future__ import annotations

import logging
import stat as stat_
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, BinaryIO, ClassVar

from tcfs.errors import (
    CorruptObject,
    CrossDevice,
    Exists,
    InvalidArgument,
    IsADirectory,
    NotFound,
    ReadOnly,
)
from tcfs.fs import handles as h
from tcfs.fs.callers import Caller
from tcfs.fs.context import REQUESTER

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
    #: ``chmod`` to a mode other than ``perm`` is refused
    fixed_mode: ClassVar[bool] = True
    #: a file created here under a scratch name stays on this mount
    #: (``tcfs.fs.scratch``): a directory of memory keys or of artifacts
    keeps_scratch: ClassVar[bool] = False
    #: a scratch-named file left alone here was meant to have its name: it is
    #: published under it (an artifact ``.env.sample``; ``tcfs.fs.scratch``)
    publishes_scratch: ClassVar[bool] = False

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
        raise ReadOnly(f"cannot open {self.where}")

    async def open_write(self, ctx: FsContext, ino: int, how: OpenMode) -> h.Handle:
        raise ReadOnly(f"{self.where} is read-only")

    async def truncate(self, ctx: FsContext, size: int) -> None:
        """``truncate(path)`` with no open handle: only some kinds mean anything."""

    async def unlink(self, ctx: FsContext) -> None:
        raise ReadOnly(f"{self.where} cannot be removed")

    async def mkdir(self, ctx: FsContext) -> Node:
        raise ReadOnly(f"cannot make a directory at {self.where}")

    async def rmdir(self, ctx: FsContext) -> None:
        raise ReadOnly(f"cannot remove {self.where}")

    # ----- rename: the content moves, as one write, then the old name goes -----

    async def content(self, ctx: FsContext) -> tuple[BinaryIO, int]:
        """The bytes of this file and their size, for a rename (the caller
        closes the file object)."""
        raise CrossDevice(f"{self.where} cannot be renamed")

    async def receive(self, ctx: FsContext, fileobj: BinaryIO, size: int) -> None:
        """Become the file renamed onto this path: one write, one event."""
        raise CrossDevice(f"nothing can be renamed onto {self.where}")

    async def rename_to(self, ctx: FsContext, dst: Node) -> None:
        """Rename this file onto ``dst`` (a node of the same top directory):
        ``dst`` takes the content in one write, then this name is removed."""
        fileobj, size = await self.content(ctx)
        try:
            await dst.receive(ctx, fileobj, size)
        finally:
            fileobj.close()
        await self.unlink(ctx)


class Dir(Node):
    """A directory: exists by its name unless a kind says otherwise."""

    __slots__ = ()
    is_dir = True
    perm = 0o555
    direct_io = False
    lasting = True

    async def stat(self, ctx: FsContext, *, keep: bool = False) -> Stat:
        return Stat(self)

    def listed_children(self) -> list[Node]:
        """The listed children the tree's table names for this directory, in
        table order."""
        from tcfs.fs import tree

        return [c for c in tree.fixed_children(self) if c.listed]

    async def entries(self, ctx: FsContext) -> list[Stat]:
        """The listing: by default the fixed names the tree gives this directory."""
        return [Stat(c, 0 if c.is_dir else None) for c in self.listed_children()]

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

    def written(self, record: object) -> float | None:
        """When ``record`` (what ``fetch`` returns) was written, in seconds
        since the epoch, if it says: the file's mtime and ctime."""
        return None

    async def stat(self, ctx: FsContext, *, keep: bool = False) -> Stat:
        try:
            body, record = await self.fetch(ctx)
        except CorruptObject as exc:
            log.debug("%s: %s", self.where, exc)
            return Stat(self, 0)
        if keep:
            ctx.rendered.keep(self, body, record)
        return Stat(self, len(body), self.written(record))

    async def open_read(self, ctx: FsContext, ino: int) -> h.Handle:
        kept = ctx.rendered.take_kept(self)
        body, record = kept if kept is not None else await self.fetch(ctx)
        return h.SnapshotHandle(ino, body, mtime=self.written(record))


class Computed(Node):
    """A file computed at ``open`` from more than one record (``stat`` costs
    nothing and says 0 bytes: read it to the end)."""

    __slots__ = ()

    async def render(self, ctx: FsContext) -> bytes:
        raise NotImplementedError

    async def open_read(self, ctx: FsContext, ino: int) -> h.Handle:
        return h.SnapshotHandle(ino, await self.render(ctx))


class TextFile(Node):
    """A small text file sent whole to the bucket by the ``write()`` that ends
    it (``handles.TextWriter``), so a failure is the write's error, which
    bash's builtin ``echo`` reports."""

    __slots__ = ()
    perm = 0o644
    creatable = True
    writable = True
    #: the largest text accepted (``EFBIG`` beyond), and what to call it
    limit: ClassVar[int]
    what: ClassVar[str]

    async def commit(self, ctx: FsContext, text: str) -> h.Announce | None:
        """Send ``text``; what it returns records the event, at the close."""
        raise NotImplementedError

    async def open_write(self, ctx: FsContext, ino: int, how: OpenMode) -> h.Handle:
        async def commit(text: str) -> h.Announce | None:
            return await self.commit(ctx, text)

        return h.TextWriter(ino, commit, limit=self.limit, what=self.what, created=True)


class Blocking(Node):
    """A file whose first read blocks on the mount's poller; never listed."""

    __slots__ = ()
    listed = False

    def produce(self, ctx: FsContext, caller: Caller | None) -> Callable[[], Awaitable[bytes]]:
        """The read's wait; ``caller`` opened the file (and, in practice,
        reads it): the poller ends the wait when it is killed."""
        raise NotImplementedError

    async def open_read(self, ctx: FsContext, ino: int) -> h.Handle:
        return h.BlockingHandle(ino, self.produce(ctx, Caller.of(REQUESTER.get())))
