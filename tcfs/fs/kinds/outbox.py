"""``outbox/<agent>``: each file written is one message."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tcfs.errors import NotFound, ReadOnly
from tcfs.fs import handles as h
from tcfs.fs.nodes import OpenMode, Stat, TextFile, WritableDir
from tcfs.fs.text import strip_newline
from tcfs.protocol.events import actions
from tcfs.protocol.messages import MAX_MESSAGE, Message

if TYPE_CHECKING:
    from tcfs.fs.context import FsContext


class Outbox(WritableDir):
    """Always empty: what is written there is sent and gone."""

    __slots__ = ()

    async def entries(self, ctx: FsContext) -> list[Stat]:
        return []


class OutboxMessage(TextFile):
    """Each file created is one message, sent by the write that ends it (or
    its close); later writes of the same open file replace its text."""

    __slots__ = ()
    perm = 0o200
    limit = MAX_MESSAGE
    what = "a message"

    async def stat(self, ctx: FsContext, *, keep: bool = False) -> Stat:
        raise NotFound(f"{self.where}: the outbox is write-only (create a file)")

    async def restat(self, ctx: FsContext) -> Stat:
        return Stat(self, 0)

    async def open_read(self, ctx: FsContext, ino: int) -> h.Handle:
        raise ReadOnly("the outbox is write-only")

    async def open_write(self, ctx: FsContext, ino: int, how: OpenMode) -> h.Handle:
        messages, to = ctx.project.messages, self.name
        sent: list[Message] = []  # what this open file sent: the next write replaces it

        async def send(text: str) -> h.Announce:
            body = strip_newline(text)
            if sent:
                sent[0] = await ctx.write(messages.rewrite, sent[0], body)
            else:
                sent.append(await ctx.write(messages.send, to, body))
            message = sent[0]
            return lambda: actions.record_message(ctx.events, message)

        return h.TextWriter(ino, send, limit=self.limit, what=self.what, created=True)
