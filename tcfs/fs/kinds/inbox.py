"""``inbox/``: this agent's messages, the blocking ``inbox/next``, and the
peek-and-acknowledge pair the hooks use, ``inbox/unread`` and ``inbox/ack``."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from tcfs.errors import ReadOnly
from tcfs.fs import handles as h
from tcfs.fs.context import REQUESTER
from tcfs.fs.nodes import Blocking, Computed, Dir, Rendered, Stat, TextFile
from tcfs.protocol import holds, records
from tcfs.protocol.messages import Message

if TYPE_CHECKING:
    from tcfs.fs.callers import Caller
    from tcfs.fs.context import FsContext


class Inbox(Dir):
    """Direct messages and others' broadcasts, oldest first."""

    __slots__ = ()

    async def entries(self, ctx: FsContext) -> list[Stat]:
        found = await ctx.run(ctx.project.messages.inbox)
        return [Stat(c, None) for name in found if (c := self.child(name))]


class InboxMessage(Rendered):
    __slots__ = ()

    async def fetch(self, ctx: FsContext) -> tuple[bytes, object]:
        msg = await ctx.run(ctx.project.messages.read, self.name)
        return msg.render(), msg

    def written(self, record: object) -> float | None:
        return records.timestamp(record.sent_at) if isinstance(record, Message) else None

    async def unlink(self, ctx: FsContext) -> None:
        # a direct message is deleted; a broadcast is hidden for this agent only
        await ctx.write(ctx.project.messages.remove, self.name)


class InboxNext(Blocking):
    """Blocks until a message this agent has not read arrives; consumes it."""

    __slots__ = ()

    def produce(self, ctx: FsContext, caller: Caller | None) -> Callable[[], Awaitable[bytes]]:
        async def next_message() -> bytes:
            return (await ctx.poller.next_message(caller=caller)).render()

        return next_message


#: ``inbox/unread`` shows at most this many (the oldest); acknowledge them to see more
UNREAD_LIMIT = 50
#: one write to ``inbox/ack``: names of about 50 bytes each
ACK_LIMIT = 64 * 1024


class InboxUnread(Computed):
    """Never listed, never blocks: the messages the read cursor has not passed,
    as JSON, without consuming them (what a hook reads before it answers).
    A message this mount consumed for an ``inbox/next`` reader that gave up
    is still unread, and comes first.

    A read holds what it shows for ``HOLD_S`` (``tcfs.protocol.holds``):
    until it is acknowledged through ``inbox/ack`` or the hold lapses, no other
    reader of this mount (``inbox/next``, another read of this file, the
    waker) delivers it; this file lists it under ``reserved`` meanwhile.  The
    hold is the reading process's: it ends when that process is gone."""

    __slots__ = ()
    listed = False

    async def render(self, ctx: FsContext) -> bytes:
        holds = ctx.project.messages.holds
        owner = requester_process()
        kept = ctx.poller.undelivered()
        taken = set(
            holds.take((m.name for m in kept), limit=UNREAD_LIMIT, owner=owner, consuming=True)
        )
        try:
            msgs = [m for m in kept if m.name in taken]
            msgs += await ctx.run(
                ctx.project.messages.reserve_unread, UNREAD_LIMIT - len(msgs), owner
            )
        except BaseException:
            holds.release(taken)
            raise
        shown = {m.name for m in msgs}
        doc = {
            "agent": ctx.project.agent,
            "project": ctx.project.store.project,
            "unread": [m.summary() for m in msgs],
            "reserved": [
                {"name": name, "for_s": round(left, 1)}
                for name, left in sorted(holds.held().items())
                if name not in shown
            ],
        }
        return (json.dumps(doc, indent=1, ensure_ascii=False) + "\n").encode()


def requester_process() -> int | None:
    """The process this request comes from, if known: the kernel names the
    calling thread, and a hook reads in a thread of its own that ends before
    the hook acknowledges, so the hold is the thread's process's (its tgid)."""
    pid = REQUESTER.get()
    if not pid:
        return None
    return holds.process_of(pid)


class InboxAck(TextFile):
    """Never listed, write-only: the names written (one per line) are marked
    read on the cursor ``inbox/next`` and ``tracecraft inbox --new`` share
    (what a hook writes once its answer is out)."""

    __slots__ = ()
    perm = 0o200
    listed = False
    limit = ACK_LIMIT
    what = "a list of message names"

    async def open_read(self, ctx: FsContext, ino: int) -> h.Handle:
        raise ReadOnly("inbox/ack is write-only: write message names to mark them read")

    async def commit(self, ctx: FsContext, text: str) -> None:
        if names := text.split():
            await ctx.write(ctx.project.messages.ack, names)
            ctx.poller.delivered(names)
