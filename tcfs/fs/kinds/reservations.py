"""``reservations/<name>``: path globs reserved by one agent, so that others
do not edit those files meanwhile (``tcfs.protocol.file_reservations``)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from tcfs.fs import handles as h
from tcfs.fs.nodes import Computed, OpenMode, Rendered, Stat, TextFile, WritableDir
from tcfs.protocol.events import actions
from tcfs.protocol.file_reservations import Reservation as ReservationRecord

if TYPE_CHECKING:
    from tcfs.fs.context import FsContext

#: the globs of one reservation: one a line
MAX_RESERVATION = 64 << 10


class ReservationsDir(WritableDir):
    """The live reservations of the project, every agent's."""

    __slots__ = ()

    async def entries(self, ctx: FsContext) -> list[Stat]:
        live = await ctx.run(ctx.project.reservations.live)
        return [Stat(c, None) for r in live if (c := self.child(r.name))]


class Reservation(TextFile, Rendered):
    """Writing globs to a new name reserves them for this agent (``EEXIST``
    naming the holder when another agent's live reservation overlaps);
    writing again replaces the globs (``>>`` adds to them); removing it
    releases (holder only)."""

    __slots__ = ()
    limit = MAX_RESERVATION
    what = "a reservation"

    async def fetch(self, ctx: FsContext) -> tuple[bytes, object]:
        found = await ctx.run(ctx.project.reservations.get, self.name)
        return found.render(), found

    async def open_write(self, ctx: FsContext, ino: int, how: OpenMode) -> h.Handle:
        # Refused here, in open, when the lookup just found it another
        # agent's: the error bash's `echo x > f` reports best.
        seen = ctx.rendered.take_record(self)
        if isinstance(seen, ReservationRecord) and seen.agent != ctx.project.agent:
            raise ctx.project.reservations.refused(self.name, seen)

        async def current() -> bytes:
            found = await ctx.run(ctx.project.reservations.get, self.name)
            return "".join(g + "\n" for g in found.globs).encode()

        async def commit(text: str) -> h.Announce:
            if how.append:  # `>>` adds globs to the ones held (the writer hands the new text)
                text = (await current()).decode() + text
            return await self.commit(ctx, text)

        return h.TextWriter(
            ino,
            commit,
            limit=self.limit,
            what=self.what,
            base=current,
            append=how.append,
            created=how.truncate,
        )

    async def commit(self, ctx: FsContext, text: str) -> h.Announce:
        made = await ctx.write(ctx.project.reservations.reserve, self.name, text)
        return lambda: actions.record_reservation(ctx.events, made)

    async def unlink(self, ctx: FsContext) -> None:
        await ctx.write(ctx.project.reservations.release, self.name)
        ctx.events.emit("reserve-release", self.name)


class ReservationsCheck(Computed):
    """Never listed: every live reservation as JSON, for the hooks that keep
    an agent from editing another's reserved files (one GET), and why this
    mount's last reservation was refused."""

    __slots__ = ()
    listed = False

    async def render(self, ctx: FsContext) -> bytes:
        live = await ctx.run(ctx.project.reservations.live)
        doc = {
            "agent": ctx.project.agent,
            "project": ctx.project.store.project,
            "reservations": [
                {"name": r.name, "agent": r.agent, "globs": list(r.globs), "epoch": r.epoch}
                for r in live
            ],
            "last_refusal": ctx.project.reservations.last_refusal,
        }
        return (json.dumps(doc, indent=1, ensure_ascii=False) + "\n").encode()
