"""``memory/<a>/<b>``: the CLI's key ``a.b``.

The kernel's lookup cannot tell a directory on the way from the file to
create, so a name directly under ``memory/`` is a namespace, a directory
as soon as it is named (like ``steps/<id>/``); a deeper name is a value or
a directory by what the bucket holds (``MemoryEntry`` resolves it), or a
directory made with ``mkdir`` on this mount until a value is written in it.
"""

from __future__ import annotations

import io
import logging
from typing import TYPE_CHECKING, BinaryIO

import trio

from tcfs import names
from tcfs.errors import (
    CorruptObject,
    Exists,
    InvalidArgument,
    IsADirectory,
    NotADirectory,
    NotEmpty,
    NotFound,
    TooLarge,
)
from tcfs.fs import handles as h
from tcfs.fs.namespaces import RECHECK_S
from tcfs.fs.nodes import Node, OpenMode, Path, Rendered, Stat, TextFile, WritableDir
from tcfs.fs.text import strip_newline
from tcfs.protocol import records
from tcfs.protocol.events import actions
from tcfs.protocol.memory import MemoryValue as Value

if TYPE_CHECKING:
    from tcfs.fs.context import FsContext

log = logging.getLogger(__name__)

MAX_VALUE = 1 << 20


def appended(value: Value | None, text: str) -> str:
    """``value`` as the mount shows it (with its newline), ``text`` after it,
    and one trailing newline taken as the shell's again."""
    shown = value.render().decode() if value is not None else ""
    return strip_newline(shown + text)


def is_namespace(key: tuple[str, ...]) -> bool:
    """A name directly under ``memory/`` exists as soon as it is named."""
    return len(key) == 1


async def one_part_exists(ctx: FsContext, name: str) -> bool:
    """Whether the one-part key ``memory/<name>.json`` exists (malformed counts)."""
    try:
        await ctx.run(ctx.project.memory.get, (name,))
    except NotFound:
        return False
    except CorruptObject:
        pass
    return True


def made_below(ctx: FsContext, key: tuple[str, ...]) -> set[str]:
    """Names of the directories made with mkdir on this mount directly under ``key``."""
    return {d[len(key)] for d in ctx.memory_dirs if len(d) > len(key) and d[: len(key)] == key}


class Keyed:
    __slots__ = ()
    path: Path

    @property
    def key(self) -> tuple[str, ...]:
        return self.path[1:]


class MemoryRoot(Keyed, WritableDir):
    """``memory/`` and, below it, every directory of keys."""

    __slots__ = ()
    keeps_scratch = True

    async def entries(self, ctx: FsContext) -> list[Stat]:
        key, at = self.key, trio.current_time()
        values, dirs = await ctx.run(ctx.project.memory.entries, key)
        if not key:  # the listing of memory/ names every one-part key
            ctx.namespaces.listed(values, at)
        made_here = {
            d[len(key)] for d in ctx.memory_dirs if len(d) > len(key) and d[: len(key)] == key
        }
        subdirs = set(dirs) | made_here
        out = [Stat(MemoryDir(c.path), 0) for d in sorted(subdirs) if (c := self.child(d))]
        # a key that is also a prefix shows as a directory
        out += [
            Stat(MemoryValue(c.path), None)
            for v in values
            if v not in subdirs and (c := self.child(v))
        ]
        return out


class MemoryDir(MemoryRoot):
    """A directory of keys: a value written by another tool can take its name."""

    __slots__ = ()
    lasting = False


class MemoryValue(Keyed, TextFile, Rendered):
    """A value: ``>>`` appends, one trailing newline is the shell's."""

    __slots__ = ()
    limit = MAX_VALUE
    what = "a memory value"

    async def fetch(self, ctx: FsContext) -> tuple[bytes, object]:
        value = await ctx.run(ctx.project.memory.get, self.key)
        return value.render(), value

    def written(self, record: object) -> float | None:
        return records.timestamp(record.set_at) if isinstance(record, Value) else None

    def kept(self, ctx: FsContext, value: Value, keep: bool) -> Stat:
        """The stat of a value already fetched (kept for the open, on a lookup)."""
        body = value.render()
        if keep:
            ctx.rendered.keep(self, body, value)
        return Stat(self, len(body), self.written(value))

    async def commit(self, ctx: FsContext, text: str) -> None:
        value = await ctx.write(ctx.project.memory.set, self.key, strip_newline(text))
        actions.record_memory_set(ctx.events, value)

    async def open_write(self, ctx: FsContext, ino: int, how: OpenMode) -> h.Handle:
        memory, key = ctx.project.memory, self.key
        entry: list[str] = []  # the history entry of this open file: its later commits amend it

        async def commit(text: str) -> h.Announce:
            made = entry[0] if entry else None
            if how.append:  # compare-and-swap: appends of other agents are kept
                value = await ctx.write(
                    lambda: memory.update(key, lambda now: appended(now, text), entry=made)
                )
            else:
                value = await ctx.write(lambda: memory.set(key, strip_newline(text), entry=made))
            entry[:] = [value.entry] if value.entry else []
            return lambda: actions.record_memory_set(ctx.events, value)

        async def current() -> bytes:
            try:
                return await self.render(ctx)
            except NotFound:
                return b""

        return h.TextWriter(
            ino,
            commit,
            limit=self.limit,
            what=self.what,
            base=current,
            append=how.append,
            commit_empty=True,
            created=how.truncate,
        )

    async def content(self, ctx: FsContext) -> tuple[BinaryIO, int]:
        body = await self.render(ctx)
        return io.BytesIO(body), len(body)

    async def receive(self, ctx: FsContext, fileobj: BinaryIO, size: int) -> None:
        if size > self.limit:
            raise TooLarge(f"{self.what} is limited to {self.limit} bytes")
        body = await trio.to_thread.run_sync(fileobj.read, size)
        try:
            text = body.decode()
        except UnicodeDecodeError as exc:
            raise InvalidArgument(f"{self.what} must be UTF-8 text", cause=exc) from exc
        await self.commit(ctx, text)

    async def unlink(self, ctx: FsContext) -> None:
        await MemoryEntry(self.path).unlink(ctx)

    async def truncate(self, ctx: FsContext, size: int) -> None:
        if size == 0:  # `truncate -s 0 memory/k` sets the empty value
            actions.record_memory_set(
                ctx.events, await ctx.write(ctx.project.memory.set, self.key, "")
            )


class MemoryEntry(Keyed, Node):
    """A name under ``memory/`` before the bucket says what it is."""

    __slots__ = ()
    keeps_scratch = True

    @classmethod
    def check(cls, path: Path) -> None:
        names.memory_key(path[1:])

    def for_create(self) -> Node:
        return MemoryValue(self.path)

    async def stat(self, ctx: FsContext, *, keep: bool = False) -> Stat:
        key = self.key
        if key in ctx.memory_dirs:
            return Stat(MemoryDir(self.path))
        value = MemoryValue(self.path)
        if is_namespace(key):
            return await self._namespace(ctx, value, keep)
        # The value and the keys below it, asked together: one round trip.
        try:
            found, below = await ctx.run(ctx.project.memory.lookup, key)
        except CorruptObject as exc:  # a malformed value still exists (reading it: EIO)
            log.debug("%s: %s", self.where, exc)
            return Stat(value, 0)
        if found is not None:
            return value.kept(ctx, found, keep)
        if below:
            return Stat(MemoryDir(self.path))
        raise NotFound(f"no memory key {'.'.join(key)}")

    async def _namespace(self, ctx: FsContext, value: MemoryValue, keep: bool) -> Stat:
        """A name directly under memory/: a namespace unless the CLI made it a
        one-part key, known without a request in front of the answer
        (``tcfs.fs.namespaces``)."""
        name, known = self.key[0], ctx.namespaces
        await known.listing_done()
        at = known.checked_at(name)
        if at is not None:
            if trio.current_time() - at >= RECHECK_S:

                async def probe(name: str) -> bool:
                    return await one_part_exists(ctx, name)

                known.recheck(name, probe)
            return Stat(MemoryDir(self.path))
        now = trio.current_time()
        try:
            st = await value.stat(ctx, keep=keep)
        except NotFound:
            known.found_namespace(name, now)
            return Stat(MemoryDir(self.path))
        known.found_value(name)
        return st

    async def unlink(self, ctx: FsContext) -> None:
        if self.key in ctx.memory_dirs:
            raise IsADirectory(f"{self.where} is a directory")
        await ctx.write(ctx.project.memory.delete, self.key)
        if is_namespace(self.key):  # a one-part key gone: the name is a namespace
            ctx.namespaces.found_namespace(self.key[0], trio.current_time())
        ctx.events.emit("memory-delete", ".".join(self.key))

    async def mkdir(self, ctx: FsContext) -> Node:
        key = self.key
        try:
            await ctx.run(ctx.project.memory.get, key)
        except NotFound:
            pass
        else:
            raise Exists(f"memory key {'.'.join(key)} holds a value")
        for i in range(1, len(key) + 1):
            ctx.memory_dirs.add(key[:i])
        return MemoryDir(self.path)

    async def rmdir(self, ctx: FsContext) -> None:
        key = self.key
        values, dirs = await ctx.run(ctx.project.memory.entries, key)
        if values or dirs or made_below(ctx, key):
            raise NotEmpty(f"{self.where} is not empty")
        if key in ctx.memory_dirs:
            ctx.memory_dirs.discard(key)
            return
        if is_namespace(key):
            return  # an empty namespace exists by name: there is nothing to remove
        try:
            await ctx.run(ctx.project.memory.get, key)
        except NotFound:
            raise NotFound(f"no memory directory {self.where}") from None
        except CorruptObject:
            pass
        raise NotADirectory(f"{self.where} is a value")
