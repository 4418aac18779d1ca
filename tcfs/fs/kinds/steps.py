"""``steps/<id>/``: claim, status, handoff and the blocking ``wait``."""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any, cast

from tcfs.errors import InvalidArgument
from tcfs.fs import handles as h
from tcfs.fs.nodes import (
    Blocking,
    Computed,
    Node,
    OpenMode,
    Rendered,
    Stat,
    TextFile,
    WritableDir,
)
from tcfs.fs.text import strip_newline
from tcfs.protocol import records
from tcfs.protocol.events import actions
from tcfs.protocol.steps import Claim as ClaimRecord

if TYPE_CHECKING:
    from tcfs.fs.callers import Caller
    from tcfs.fs.context import FsContext

MAX_STATUS = 4 << 10
MAX_HANDOFF = 512 << 10
HANDOFF_FIELDS = ("note", "next_agent", "next_action", "state", "changed_files")


class StepsDir(WritableDir):
    __slots__ = ()

    async def entries(self, ctx: FsContext) -> list[Stat]:
        ids = await ctx.run(ctx.project.steps.ids)
        return [Stat(c, 0) for sid in ids if (c := self.child(sid))]


class StepDir(WritableDir):
    """Exists for every valid step id, before anything is written."""

    __slots__ = ()

    @property
    def step(self) -> str:
        return self.path[1]

    async def entries(self, ctx: FsContext) -> list[Stat]:
        # one LIST of the step's records; each file the table gives a step
        # says whether it shows (``StepFile.listing``)
        present = await ctx.run(ctx.project.steps.records, self.step)
        return [
            st
            for child in self.listed_children()
            if isinstance(child, StepFile) and (st := child.listing(ctx, present))
        ]


class StepFile:
    """The step a file of ``steps/<id>/`` belongs to."""

    __slots__ = ()
    path: tuple[str, ...]

    @property
    def step(self) -> str:
        return self.path[1]

    def listing(self, ctx: FsContext, present: Mapping[str, float]) -> Stat | None:
        """This file in ``ls steps/<id>/``, given the step's records that exist
        (name -> when written): by default, while its own record
        ``steps/<id>/<name>.json`` exists (size unknown until looked up)."""
        written = present.get(self.path[-1])
        return None if written is None else Stat(cast(Node, self), None, written)


class Claim(StepFile, Rendered):
    """Opening it for writing claims the step (create or ``O_WRONLY``)."""

    __slots__ = ()
    perm = 0o644
    creatable = True
    writable = True

    async def fetch(self, ctx: FsContext) -> tuple[bytes, object]:
        claim = await ctx.run(ctx.project.steps.read_claim, self.step)
        return claim.render(), claim

    async def open_write(self, ctx: FsContext, ino: int, how: OpenMode) -> h.Handle:
        # Decided here, in open/create: the only errors bash's builtin
        # `echo me > claim` reports (it ignores close()).  The claim the lookup
        # just read decides a step another agent holds without a PUT that
        # could only fail.
        seen = ctx.rendered.take_record(self)
        steps, step = ctx.project.steps, self.step
        claim = await ctx.write(
            lambda: steps.claim(step, seen=seen if isinstance(seen, ClaimRecord) else None)
        )
        actions.record_claim(ctx.events, claim)
        return h.ClaimHandle(ino, claim.render())

    async def unlink(self, ctx: FsContext) -> None:
        await ctx.write(ctx.project.steps.release, self.step)
        ctx.events.emit("release", self.step)


class Status(StepFile, TextFile, Computed):
    """One word; the holder sets it.  Fenced against the claim's epoch, so
    reading it takes both records (computed at open)."""

    __slots__ = ()
    limit = MAX_STATUS
    what = "a status"

    async def stat(self, ctx: FsContext, *, keep: bool = False) -> Stat:
        # free, as a computed file's: the time is the last this mount learned
        return Stat(self, 0, ctx.written_at.get(self.path))

    def listing(self, ctx: FsContext, present: Mapping[str, float]) -> Stat | None:
        # every step has a status ("open" before anything is written); its
        # time is the status record's, else the claim's
        written = present.get("status", present.get("claim"))
        if written is not None:
            ctx.written_at.note(self.path, written)
        return Stat(self, 0, written)

    async def render(self, ctx: FsContext) -> bytes:
        st = await ctx.run(ctx.project.steps.status, self.step)
        if st.written is not None:
            ctx.written_at.note(self.path, st.written)
        return (st.status + "\n").encode()

    async def commit(self, ctx: FsContext, text: str) -> h.Announce | None:
        word = text.strip()
        if not word:
            return None
        st = await ctx.write(ctx.project.steps.set_status, self.step, word)
        ctx.written_at.note(self.path, time.time())
        return lambda: ctx.events.emit("status", self.step, epoch=st.epoch, status=st.status)


class Handoff(StepFile, TextFile, Rendered):
    """The holder writes a note (or a JSON object of fields): the step is done."""

    __slots__ = ()
    limit = MAX_HANDOFF
    what = "a handoff"

    async def fetch(self, ctx: FsContext) -> tuple[bytes, object]:
        steps = ctx.project.steps
        doc = await ctx.run(steps.read_handoff, self.step)
        return steps.render_handoff(doc), doc

    def written(self, record: object) -> float | None:
        return records.timestamp(record.get("created_at")) if isinstance(record, dict) else None

    async def commit(self, ctx: FsContext, text: str) -> h.Announce:
        steps, step, fields = ctx.project.steps, self.step, handoff_fields(text)
        doc = await ctx.write(lambda: steps.handoff(step, **fields))
        return lambda: actions.record_handoff(ctx.events, step, doc)


class Wait(StepFile, Blocking):
    """Blocks until the step is complete, then prints ``complete``."""

    __slots__ = ()

    def produce(self, ctx: FsContext, caller: Caller | None) -> Callable[[], Awaitable[bytes]]:
        async def wait() -> bytes:
            return (await ctx.poller.wait_step(self.step, caller=caller) + "\n").encode()

        return wait


def handoff_fields(text: str) -> dict[str, Any]:
    """A handoff note, or a JSON object with the handoff's fields."""
    stripped = text.strip()
    if stripped.startswith("{"):
        try:
            doc = json.loads(stripped)
        except ValueError:
            doc = None
        if isinstance(doc, dict):
            unknown = set(doc) - set(HANDOFF_FIELDS)
            if unknown:
                raise InvalidArgument(f"unknown handoff fields: {', '.join(sorted(unknown))}")
            out = {k: doc[k] for k in HANDOFF_FIELDS if doc.get(k) is not None}
            for k in ("note", "next_agent", "next_action", "state"):
                if k in out and not isinstance(out[k], str):
                    raise InvalidArgument(f"handoff field {k!r} must be a string")
            cf = out.get("changed_files")
            if cf is not None and not (
                isinstance(cf, list) and all(isinstance(f, str) for f in cf)
            ):
                raise InvalidArgument("handoff field 'changed_files' must be a list of strings")
            return out
    return {"note": strip_newline(text)}
