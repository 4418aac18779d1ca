"""``events``: the project's history, one line per event, growing while open."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tcfs.errors import NotFound
from tcfs.fs import handles as h
from tcfs.fs.nodes import Node, Stat

if TYPE_CHECKING:
    from tcfs.fs.context import FsContext
    from tcfs.fs.events_feed import EventsFeed


class EventsFile(Node):
    """Like a transcript: its size is fresh within about a second while it is
    open, so ``tail -f`` follows it; closed, it costs nothing (``stat`` shows
    what was read so far)."""

    __slots__ = ()
    # read through to the end whatever size the kernel last saw: the history
    # is only read at the first open, after the lookup that sized the file
    direct_io = True

    async def stat(self, ctx: FsContext, *, keep: bool = False) -> Stat:
        return Stat(self, _feed(ctx).size)

    def live_size(self, ctx: FsContext, ino: int) -> int | None:
        return _feed(ctx).size

    async def open_read(self, ctx: FsContext, ino: int) -> h.Handle:
        feed = _feed(ctx)
        await ctx.run(feed.open, ino)
        return EventsHandle(ino, feed)


def _feed(ctx: FsContext) -> EventsFeed:
    if ctx.feed is None:
        raise NotFound("this mount keeps no events file")
    return ctx.feed


class EventsHandle(h.Handle):
    def __init__(self, ino: int, feed: EventsFeed) -> None:
        super().__init__(ino)
        self._feed = feed

    async def read(self, off: int, size: int) -> bytes:
        return self._feed.read(off, size)

    async def release(self) -> None:
        self._feed.close(self.ino)
