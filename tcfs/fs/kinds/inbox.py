"""``inbox/``: this agent's messages, and the blocking ``inbox/next``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from tcfs.fs.nodes import Blocking, Dir, Rendered, Stat

if TYPE_CHECKING:
    from tcfs.fs.context import FsContext


class Inbox(Dir):
    """Direct messages and others' broadcasts, oldest first."""

    __slots__ = ()

    async def entries(self, ctx: FsContext) -> list[Stat]:
        found = await ctx.run(ctx.project.messages.inbox)
        return [Stat(c, None) for name in found if (c := self.child(name))]


class InboxMessage(Rendered):
    __slots__ = ()

    async def render(self, ctx: FsContext) -> bytes:
        return (await ctx.run(ctx.project.messages.read, self.name)).render()

    async def unlink(self, ctx: FsContext) -> None:
        # a direct message is deleted; a broadcast is hidden for this agent only
        await ctx.write(ctx.project.messages.remove, self.name)


class InboxNext(Blocking):
    """Blocks until a message this agent has not read arrives; consumes it."""

    __slots__ = ()

    def produce(self, ctx: FsContext) -> Callable[[], Awaitable[bytes]]:
        async def next_message() -> bytes:
            return (await ctx.poller.next_message()).render()

        return next_message
