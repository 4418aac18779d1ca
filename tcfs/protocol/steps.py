"""Steps: claims as leases, status, handoff, fencing.

A claim is ``steps/<id>/claim.json``, created with ``If-None-Match: *`` so one
agent wins.  tcfs adds lease fields to the CLI's ``{agent, claimed_at}``:
``lease_ttl_s``, ``expires_at`` (epoch seconds on the store's clock, for
display and older readers), ``epoch`` and ``lease_id``.

* Expiry is judged on the store's clock, never on a machine's: a claim read is
  as old as the store's time minus its ``Last-Modified`` (the store's time is
  this machine's clock corrected by the skew its answers' ``Date`` headers
  show, the answer that carried the claim among them), and it ages on the
  reader's monotonic clock after that.  A lease is taken over only once it
  is older than its TTL plus ``EXPIRY_MARGIN_S``.  (A store whose answers carry
  no ``Date`` falls back to ``expires_at`` on this machine's clock.)
* The holder counts its lease from the moment it sent the write (monotonic
  clock), renews it at half its life with ``If-Match`` on the ETag it holds,
  and past a whole TTL without a renewal it drops the lease: it is never
  renewed again, and the agent is told to claim again.  Since the store
  stamped the claim after it was sent, no reader can judge it expired earlier.
* An expired lease is taken over with ``If-Match`` on the ETag read and a
  newer epoch.  A claim without ``expires_at`` (the CLI's) never expires.
* Epochs order holders without a clock: a new claim's epoch is one more than
  every epoch the step's records carry (claim, status, handoff), and at least
  the store's time in milliseconds, so epochs written as timestamps stay
  comparable.
* Release is a conditional delete, never a blind one.  A complete step stays
  complete: its status outlives the claim, and it is not claimed again.
* ``status.json`` and ``handoff.json`` carry the epoch they were written under;
  a record from an older epoch than the step's current one (the claim's, else
  the status's) is stale and never shown (the fencing token).
* A claim with no (current) status is ``in_progress``: the CLI's crash-window
  rule, since claim and status are two separate writes.

Round trips: a step's records that do not depend on each other are read and
written together (``both``); what this process already knows is not asked
again: the claim its own unexpired lease holds (for the holder check), the
status record it wrote last (the base of the next compare-and-swap, which
re-reads if someone else wrote since), the claim a lookup just read (a lost
claim is decided from it).  With an ``AfterAnswer`` queue, the ``in_progress``
status after a won claim is written after the caller has its answer, and
every later write of the same step waits for it.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from tcfs import names
from tcfs.errors import (
    ClaimTaken,
    Contention,
    CorruptObject,
    InvalidArgument,
    InvalidName,
    NotFound,
    NotHolder,
    PreconditionFailed,
    TcfsError,
    TemporaryFailure,
)
from tcfs.protocol import cas, keys, records
from tcfs.protocol.after import AfterAnswer
from tcfs.protocol.doorbells import Doorbells
from tcfs.protocol.parallel import both, start
from tcfs.store.base import CommonPrefix, ObjectInfo, Store

log = logging.getLogger(__name__)

STATUSES = ("pending", "in_progress", "complete", "blocked", "needs_review")
WRITABLE_STATUSES = ("in_progress", "complete", "blocked", "needs_review")
#: a lease is taken over only once its claim is older than its TTL by this much
#: on the store's clock: a second for each of Last-Modified's and Date's
#: one-second resolution, and two for clocks that tick at slightly different rates
EXPIRY_MARGIN_S = 4.0
#: the allowance when a store gives no Date and expires_at is read on this clock
CLOCK_SKEW_S = 2.0
#: a machine this far off the store's clock is warned about (leases do not
#: depend on it, but the times it stamps on records do)
SKEW_WARN_S = 2.0
#: this far off, the store's Date is not trusted to judge another agent's lease
#: (a clock this wrong, or a Date not from the clock that stamps Last-Modified):
#: the mount refuses to take leases over, and says why
SKEW_REFUSE_S = 600.0
#: renew when less than this fraction of the lease is left
RENEW_AT = 0.5
#: "the caller did not read the record" (None means it read: there is none)
_UNREAD = object()

#: a record as read: its document and ETag
Record = tuple[dict[str, Any], str]


def _lapsed_message(step: str, ttl: float) -> str:
    return (
        f"the lease on step {step} was not renewed within its {ttl:g}s "
        "(the store was out of reach): claim it again"
    )


def record_epoch(doc: dict[str, Any]) -> int | None:
    """The epoch a step record was written under (None: none, the CLI's)."""
    epoch = doc.get("epoch")
    return epoch if isinstance(epoch, int) and not isinstance(epoch, bool) else None


def _epoch_of(rec: Record | None) -> int | None:
    return None if rec is None else record_epoch(rec[0])


@dataclass
class Claim:
    step: str
    agent: str
    claimed_at: str | None
    epoch: int
    lease_ttl_s: float | None
    expires_at: float | None
    etag: str
    lease_id: str | None
    raw: dict[str, Any] = field(default_factory=dict, repr=False)
    #: how ``claim`` got it: the expired holder it took over from, or our own renewed
    taken_from: str | None = None
    renewed: bool = False
    #: its age on the store's clock when read (Date minus Last-Modified); None
    #: where the store gave no Date
    age: float | None = None
    #: when it was read or sent, on the reading process's monotonic clock
    seen_at: float = 0.0
    #: our own lease: the monotonic time it lapses unless renewed (sent + TTL)
    deadline: float | None = None

    def age_at(self, tick: float) -> float | None:
        """Its age on the store's clock at monotonic time ``tick``."""
        return None if self.age is None else self.age + (tick - self.seen_at)

    def render(self) -> bytes:
        lines = [f"agent: {self.agent}", f"epoch: {self.epoch}"]
        if self.claimed_at:
            lines.append(f"claimed_at: {self.claimed_at}")
        if self.expires_at is None:
            lines.append("lease: none (never expires)")
        else:
            age = self.age_at(time.monotonic())
            when = datetime.fromtimestamp(self.expires_at, timezone.utc).isoformat()
            if age is None or self.lease_ttl_s is None:
                state = ""
            elif age < self.lease_ttl_s:
                state = f" ({self.lease_ttl_s - age:.0f}s left by the store's clock)"
            else:
                state = " (not renewed for a whole lease: expired)"
            lines.append(f"lease: {self.lease_ttl_s:g}s, expires_at {when}{state}")
        return ("\n".join(lines) + "\n").encode()


@dataclass
class StepStatus:
    step: str
    status: str
    agent: str | None
    epoch: int | None
    claim: Claim | None
    stale: bool = False  # a status record existed but was fenced off
    #: when what decides the status was written (the record's times, else the claim's)
    written: float | None = None


def _parse_claim(step: str, body: bytes, etag: str) -> Claim:
    return parse_claim(step, records.decode(body, keys.claim_key(step)), etag)


def parse_claim(step: str, doc: dict[str, Any], etag: str) -> Claim:
    """The claim ``steps/<step>/claim.json`` holds; ``CorruptObject`` when a
    field is missing or has the wrong type."""
    key = keys.claim_key(step)
    agent = records.field(doc, "agent", str, key, required=True)
    epoch = records.field(doc, "epoch", int, key, default=0)
    ttl = records.field(doc, "lease_ttl_s", (int, float), key)
    expires = records.field(doc, "expires_at", (int, float, str), key)
    if isinstance(expires, str):  # tolerate an ISO timestamp written by another tool
        dt = records.parse_iso(expires)
        if dt is None:
            raise CorruptObject(f"{key}: expires_at {expires!r} is not a time")
        expires = dt.timestamp()
    return Claim(
        step=step,
        agent=agent,
        claimed_at=records.field(doc, "claimed_at", str, key),
        epoch=epoch,
        lease_ttl_s=float(ttl) if ttl is not None else None,
        expires_at=float(expires) if expires is not None else None,
        etag=etag,
        lease_id=records.field(doc, "lease_id", str, key),
        raw=doc,
    )


@dataclass(frozen=True)
class StatusRecord:
    """What ``steps/<step>/status.json`` says (``status`` None: it says none)."""

    step: str
    status: str | None
    agent: str | None
    epoch: int | None
    #: its times in seconds since the epoch (None: absent or not a time)
    started: float | None
    completed: float | None


def parse_status(step: str, doc: dict[str, Any]) -> StatusRecord:
    """``CorruptObject`` when a field has the wrong type."""
    key = keys.status_key(step)
    return StatusRecord(
        step=step,
        status=records.field(doc, "status", str, key),
        agent=records.field(doc, "agent", str, key),
        epoch=records.field(doc, "epoch", int, key),
        started=records.timestamp(doc.get("started_at")),
        completed=records.timestamp(doc.get("completed_at")),
    )


@dataclass(frozen=True)
class HandoffRecord:
    """What ``steps/<step>/handoff.json`` says (as ``Steps.handoff`` writes it)."""

    step: str
    from_agent: str | None
    state: str | None
    note: str | None
    next_agent: str | None
    next_action: str | None
    created_at: str | None
    epoch: int | None


def parse_handoff(step: str, doc: dict[str, Any]) -> HandoffRecord:
    """``CorruptObject`` when a field has the wrong type."""
    key = keys.handoff_key(step)
    return HandoffRecord(
        step=step,
        from_agent=records.field(doc, "from_agent", str, key),
        state=records.field(doc, "state", str, key),
        note=records.field(doc, "note", str, key),
        next_agent=records.field(doc, "next_agent", str, key),
        next_action=records.field(doc, "next_action", str, key),
        created_at=records.field(doc, "created_at", str, key),
        epoch=records.field(doc, "epoch", int, key),
    )


def parse_record(
    key: str, doc: dict[str, Any], etag: str
) -> Claim | StatusRecord | HandoffRecord | None:
    """The step record at ``key`` (a claim, status or handoff), by its own
    parser; None for any other key."""
    found = keys.step_record_of(key)
    if found is None:
        return None
    step, record = found
    if record == "claim":
        return parse_claim(step, doc, etag)
    if record == "status":
        return parse_status(step, doc)
    if record == "handoff":
        return parse_handoff(step, doc)
    return None


class Steps:
    def __init__(
        self,
        store: Store,
        agent: str,
        *,
        lease_ttl: float = 60.0,
        clock: Callable[[], float] = time.time,
        ticks: Callable[[], float] = time.monotonic,
        after: AfterAnswer | None = None,
        bells: Doorbells | None = None,
    ) -> None:
        self.store = store
        self.agent = names.agent_id(agent)
        self.lease_ttl = float(lease_ttl)
        #: this machine's wall clock (the store's is ``store.clock``)
        self.clock = clock
        #: the monotonic clock that times leases
        self.ticks = ticks
        #: where the status after a won claim goes; None: written before claim() returns
        self.after = after
        self.bells = bells
        self._held: dict[str, Claim] = {}
        #: the status record this process wrote last, per step: (doc, ETag)
        self._written: dict[str, tuple[dict[str, Any], str]] = {}
        #: the handoff record a held step had when we claimed it (its ETag): one
        #: that appears later from an older epoch is a fenced holder's late write
        self._handoff_at_claim: dict[str, str | None] = {}
        self._lock = threading.Lock()

    # ----- reading -----

    def ids(self) -> list[str]:
        """Every step in the bucket (one delimited LIST)."""
        out = []
        for entry in self.store.list(keys.STEPS_ROOT, delimiter="/"):
            if isinstance(entry, CommonPrefix):
                sid = keys.child_name(keys.STEPS_ROOT, entry.prefix)
                try:
                    out.append(names.step_id(sid))
                except InvalidName:
                    log.debug("skipping step with a name tcfs does not accept: %r", sid)
        return out

    def records(self, step: str) -> dict[str, float]:
        """Which records ``steps/<step>/<name>.json`` exist, by name, with when
        each was written: one LIST instead of a GET each.  Every name found is
        given; which of them a listing shows is the mount's table's choice."""
        step = names.step_id(step)
        return {
            found[1]: e.mtime
            for e in self.store.list(keys.step_prefix(step), delimiter="/")
            if isinstance(e, ObjectInfo) and (found := keys.step_record_of(e.key)) is not None
        }

    def read_claim(self, step: str) -> Claim:
        step = names.step_id(step)
        blob = self.store.get(keys.claim_key(step))
        claim = _parse_claim(step, blob.body, blob.etag)
        claim.seen_at = self.ticks()
        if self.store.clock.offset is not None and blob.mtime > 0:
            # the store's time (this answer's Date among the samples) minus the
            # time the store stamped the claim: both on the store's clock
            claim.age = max(0.0, self.store_now() - blob.mtime)
        return claim

    # ----- clocks -----

    def store_now(self) -> float:
        """The store's time now, as this machine can tell it."""
        return self.clock() + (self.store.clock.offset or 0.0)

    def _left(self, claim: Claim) -> tuple[float, float]:
        """Seconds left of ``claim``'s lease on the store's clock, and the margin
        an observer allows past that before it takes the lease over."""
        if claim.expires_at is None:
            return float("inf"), 0.0  # the CLI's claim: it never expires
        age = claim.age_at(self.ticks())
        if age is not None and claim.lease_ttl_s is not None:
            return claim.lease_ttl_s - age, EXPIRY_MARGIN_S
        # no Date from the store (or another tool's lease without a TTL)
        return claim.expires_at - self.store_now(), CLOCK_SKEW_S

    def expired(self, claim: Claim) -> bool:
        """Whether another agent may take ``claim`` over: its lease was not
        renewed for a whole TTL plus ``EXPIRY_MARGIN_S`` on the store's clock."""
        left, margin = self._left(claim)
        return left < -margin

    def skew(self) -> float | None:
        """Seconds this machine's clock is ahead of the store's (None: unknown)."""
        offset = self.store.clock.offset
        return None if offset is None else -offset

    def _check_takeover_clock(self, step: str, holder: str) -> None:
        skew = self.skew()
        if skew is not None and abs(skew) > SKEW_REFUSE_S:
            raise ClaimTaken(
                f"step {step}: the lease of {holder} lapsed, but this machine's clock is "
                f"{abs(skew):.0f} s off the store's (more than {SKEW_REFUSE_S:.0f} s): "
                "not taking it over until the clock is fixed",
                holder=holder,
            )

    def _read_claim_or_none(self, step: str) -> Claim | None:
        try:
            return self.read_claim(step)
        except NotFound:
            return None

    def _read_record(self, key: str) -> tuple[dict[str, Any], str] | None:
        try:
            blob = self.store.get(key)
        except NotFound:
            return None
        return records.decode(blob.body, key), blob.etag

    def status(self, step: str) -> StepStatus:
        step = names.step_id(step)
        # fencing needs both records, and neither read depends on the other
        claim, rec = both(
            lambda: self._read_claim_or_none(step),
            lambda: self._read_record(keys.status_key(step)),
            together=self.store.round_trips,
        )
        stale = False
        if rec is not None:
            said = parse_status(step, rec[0])
            status = "unknown" if said.status is None else said.status
            # Fencing: a record from an older epoch than the live claim is stale.
            # Records without an epoch come from the CLI, which has no fencing.
            if claim is not None and said.epoch is not None and said.epoch < claim.epoch:
                stale = True
            elif status not in STATUSES:
                raise CorruptObject(f"{keys.status_key(step)}: unknown status {status!r}")
            else:
                times = [t for t in (said.started, said.completed) if t is not None]
                written = max(times, default=None)
                return StepStatus(step, status, said.agent, said.epoch, claim, written=written)
        if claim is not None:
            claimed = records.timestamp(claim.claimed_at)
            return StepStatus(step, "in_progress", claim.agent, claim.epoch, claim, stale, claimed)
        return StepStatus(step, "pending", None, None, None, stale)

    def read_handoff(self, step: str) -> dict[str, Any]:
        """The step's handoff, unless a holder that was fenced off wrote it: one
        from an older epoch than the step's current one (the claim's, else the
        status's) is never shown.  Those are read only when there is a handoff."""
        step = names.step_id(step)
        rec = self._read_record(keys.handoff_key(step))
        if rec is None:
            raise NotFound(f"step {step} has no handoff")
        written = _epoch_of(rec)
        if written is not None:  # the CLI's handoff has no epoch: it is not fenced
            claim = self._read_claim_or_none(step)
            current = (
                claim.epoch
                if claim is not None
                else _epoch_of(self._read_record(keys.status_key(step)))
            )
            if current is not None and written < current:
                raise NotFound(f"step {step} has no handoff from its current holder")
        return rec[0]

    def render_handoff(self, doc: dict[str, Any]) -> bytes:
        return (json.dumps(doc, indent=2, ensure_ascii=False) + "\n").encode()

    def _history(self, step: str) -> tuple[Record | None, Record | None]:
        """The step's status and handoff records (read together)."""
        return both(
            lambda: self._read_record(keys.status_key(step)),
            lambda: self._read_record(keys.handoff_key(step)),
            together=self.store.round_trips,
        )

    # ----- claiming -----

    def _fresh_epoch(self, *records: Record | None) -> int:
        """Epoch of a fresh claim: one more than any the step's records carry,
        and at least the store's time in milliseconds.

        Epochs must grow across claim generations (claim, release, claim again)
        or a holder from an earlier generation could not be fenced.  The records
        read give the order; the store's time (this machine's clock corrected by
        its measured skew) keeps it where a release deleted them, and keeps
        epochs comparable with those written as timestamps."""
        prev = max((e for r in records if (e := _epoch_of(r)) is not None), default=0)
        return max(prev + 1, int(self.store_now() * 1000))

    def _lease_doc(self, epoch: int, claimed_at: str | None = None) -> dict[str, Any]:
        now = self.store_now()
        return {
            "agent": self.agent,
            "claimed_at": claimed_at or datetime.fromtimestamp(now, timezone.utc).isoformat(),
            "lease_ttl_s": self.lease_ttl,
            "expires_at": round(now + self.lease_ttl, 3),
            "epoch": epoch,
            "lease_id": uuid.uuid4().hex,
        }

    def _remember(self, doc: dict[str, Any], etag: str, step: str, sent: float) -> Claim:
        """Our lease as just written; it lapses a TTL after ``sent`` (monotonic),
        the moment before the store could stamp it."""
        claim = _parse_claim(step, records.encode(doc), etag)
        claim.age, claim.seen_at, claim.deadline = 0.0, sent, sent + self.lease_ttl
        with self._lock:
            self._held[step] = claim
        return claim

    def _refuse_complete(self, step: str, status: Record | None, holder: str | None) -> None:
        """Completion is final: a complete step is not claimed again."""
        if status is None:
            return
        key = keys.status_key(step)
        if records.field(status[0], "status", str, key) == "complete":
            by = records.field(status[0], "agent", str, key) or "another agent"
            raise ClaimTaken(
                f"step {step} is complete (by {by}): a complete step is not claimed again",
                holder=holder or by,
            )

    def claim(self, step: str, *, seen: Claim | None = None) -> Claim:
        """Claim ``step`` for this agent, or raise ``ClaimTaken``.

        ``seen``: the claim the caller read a moment ago (a lookup), so a step
        another agent holds is refused, and one we hold renewed, without a
        conditional PUT that could only fail."""
        step = names.step_id(step)
        if seen is not None and seen.step == step:
            return self._claim_existing(seen)
        # The records left by earlier claims say whether the step is complete
        # already and may carry a newer epoch than the store's time gives.  They
        # are read beside the conditional PUT that decides, not before it, so a
        # claim costs one round trip: a complete step's claim is given back,
        # and an epoch found too low is raised with one more (rare) PUT.  The
        # status write after it is what the CLI does too: a record left without
        # an epoch (the CLI's `complete --blocked` on an unclaimed step) is not
        # fenced, so it must be replaced.  A crash in between is the
        # crash-window rule's case (a claim without status).
        together = self.store.round_trips
        status_f = start(lambda: self._read_record(keys.status_key(step)), together=together)
        handoff_f = start(lambda: self._read_record(keys.handoff_key(step)), together=together)
        for retry in (False, True):
            doc = self._lease_doc(epoch=self._fresh_epoch())
            sent = self.ticks()
            try:
                etag = self.store.put(keys.claim_key(step), records.encode(doc), if_none_match=True)
            except PreconditionFailed:
                current = self._read_claim_or_none(step)
                if current is None and not retry:
                    continue  # released between our PUT and GET: try once more
                if current is None or retry:
                    holder = current.agent if current else None
                    raise ClaimTaken(
                        f"step {step} is already claimed by {holder or 'another agent'}",
                        holder=holder,
                    ) from None
                return self._claim_existing(current)
            try:
                status_rec, handoff_rec = status_f.result(), handoff_f.result()
                self._refuse_complete(step, status_rec, None)
                newest = max(
                    (e for r in (status_rec, handoff_rec) if (e := _epoch_of(r)) is not None),
                    default=0,
                )
                if newest >= doc["epoch"]:  # an earlier holder's clock ran ahead
                    doc["epoch"] = newest + 1
                    etag = self.store.put(keys.claim_key(step), records.encode(doc), if_match=etag)
            except BaseException:
                self._withdraw(step, etag)
                raise
            return self._new_claim(step, doc, etag, sent, status_rec, handoff_rec)
        raise AssertionError("unreachable")  # the loop returns or raises

    def _withdraw(self, step: str, etag: str) -> None:
        """Delete a claim just made that must not stand (the step was complete)."""
        try:
            self.store.delete(keys.claim_key(step), if_match=etag)
        except TcfsError as exc:
            log.warning("could not withdraw the claim of %s; it lapses unrenewed: %s", step, exc)

    def _new_claim(
        self,
        step: str,
        doc: dict[str, Any],
        etag: str,
        sent: float,
        status_rec: Record | None,
        handoff_rec: Record | None,
    ) -> Claim:
        claim = self._remember(doc, etag, step, sent)
        with self._lock:
            self._handoff_at_claim[step] = handoff_rec[1] if handoff_rec else None

        def write_status() -> None:
            try:
                self._write_status(
                    step, claim, "in_progress", started_at=doc["claimed_at"], read=status_rec
                )
            except (NotHolder, Contention) as exc:  # a newer epoch, or contention:
                # the claim is won; failing to write its status must not lose it
                log.warning("claimed %s but did not write its status: %s", step, exc)

        if self.after is None:
            try:
                write_status()
            except TcfsError:
                # The caller is told the claim failed: it must not keep (and renew)
                # a lease its agent does not know it holds.
                self._give_back(claim)
                raise
        else:
            # The caller is told it won before the status lands: until it does
            # (or if it never does), the claim alone reads as in_progress (the
            # crash-window rule), which is what the status says anyway.
            self.after.submit(step, write_status, what=f"the status of new claim {step}")
        return claim

    def _give_back(self, claim: Claim) -> None:
        self._forget(claim.step)
        try:
            self._delete_claim(claim)
        except TcfsError as exc:
            log.warning("could not give back %s; its lease lapses unrenewed: %s", claim.step, exc)

    def _settle(self, step: str) -> None:
        """Let this step's queued writes land before one of ours that must follow them."""
        if self.after is not None and not self.after.settle(step):
            raise Contention(f"step {step}: an earlier write of this mount is still being sent")

    def _claim_existing(self, current: Claim) -> Claim:
        """The step is claimed: ours to renew, another's, or an expired lease."""
        step = current.step
        if current.agent == self.agent:
            # Our own claim (a restarted mount, or a second shell of the same agent).
            renewed = self._renew_claim(current)
            renewed.renewed = True
            return renewed
        if not self.expired(current):
            raise ClaimTaken(
                f"step {step} is already claimed by {current.agent}", holder=current.agent
            )
        self._check_takeover_clock(step, current.agent)
        status_rec, handoff_rec = self._history(step)
        written = _epoch_of(status_rec)
        if written is None or written >= current.epoch:  # a stale record has no say
            self._refuse_complete(step, status_rec, current.agent)
        # Take over the expired lease: If-Match on what we read, a newer epoch.
        prev = max(current.epoch, _epoch_of(status_rec) or 0, _epoch_of(handoff_rec) or 0)
        doc = self._lease_doc(epoch=prev + 1)
        sent = self.ticks()
        try:
            etag = self.store.put(keys.claim_key(step), records.encode(doc), if_match=current.etag)
        except (PreconditionFailed, NotFound):
            latest = self._read_claim_or_none(step)
            raise ClaimTaken(
                f"step {step} was taken over by {latest.agent if latest else 'another agent'}",
                holder=latest.agent if latest else None,
            ) from None
        log.info(
            "took over expired lease on %s from %s (epoch %d)", step, current.agent, doc["epoch"]
        )
        claim = self._new_claim(step, doc, etag, sent, status_rec, handoff_rec)
        claim.taken_from = current.agent
        return claim

    def _same_lease(self, a: Claim, b: Claim) -> bool:
        """One lease of this agent: renewals keep its epoch and claimed_at."""
        return (a.agent, a.epoch, a.claimed_at) == (b.agent, b.epoch, b.claimed_at)

    def _renew_claim(self, current: Claim) -> Claim:
        # The background renewal and a shell's claim of a step it holds renew
        # the same lease at once: a 412 there only means the other one moved
        # the ETag on.  Renew again on the ETag read, while the lease is ours.
        lapses = current.deadline
        for _ in range(3):
            doc = dict(current.raw)
            fresh = self._lease_doc(epoch=current.epoch, claimed_at=current.claimed_at)
            doc.update({k: fresh[k] for k in ("lease_ttl_s", "expires_at")})
            doc.setdefault("epoch", current.epoch)
            doc.setdefault("lease_id", fresh["lease_id"])
            sent = self.ticks()
            try:
                etag = self.store.put(
                    keys.claim_key(current.step), records.encode(doc), if_match=current.etag
                )
            except (PreconditionFailed, NotFound):
                latest = self._read_claim_or_none(current.step)
                if latest is None or not self._same_lease(latest, current):
                    self._forget(current.step)
                    raise NotHolder(f"lost the lease on step {current.step}") from None
                current = latest
                continue
            renewed = self._remember(doc, etag, current.step, sent)
            if lapses is not None and self.ticks() >= lapses:
                # the store was out of reach until after our lease lapsed, and a
                # retry of this renewal landed late: the agent is told it lost
                # the step, so the step goes back rather than stay locked
                self._give_back(renewed)
                raise NotHolder(_lapsed_message(current.step, self.lease_ttl))
            return renewed
        raise TemporaryFailure(f"the lease on step {current.step} keeps changing; try again")

    def _lapsed(self, held: Claim) -> bool:
        """Our own lease went a whole TTL without a renewal: another agent may
        have taken it over by now, so it is dropped, never renewed."""
        if held.deadline is None or self.ticks() < held.deadline:
            return False
        self._forget(held.step)
        log.warning("the lease on step %s lapsed unrenewed: dropped", held.step)
        return True

    def renew(self, step: str) -> Claim:
        step = names.step_id(step)
        with self._lock:
            held = self._held.get(step)
        if held is None:
            held = self._read_claim_or_none(step)
            if held is None or held.agent != self.agent:
                raise NotHolder(f"{self.agent} does not hold step {step}")
        elif self._lapsed(held):
            raise NotHolder(_lapsed_message(step, self.lease_ttl))
        return self._renew_claim(held)

    def held(self) -> list[str]:
        with self._lock:
            return sorted(self._held)

    def renew_all(self) -> dict[str, str]:
        """Renew held leases that are past half their life; the steps lost, each
        with why.  A lease that lapsed (the store was out of reach for a whole
        TTL) is dropped, not renewed: its agent is told so by its next write."""
        lost = {}
        with self._lock:
            claims = list(self._held.values())
        for claim in claims:
            if claim.deadline is None:
                continue
            if self._lapsed(claim):
                lost[claim.step] = "not renewed within the lease (store out of reach)"
                continue
            if claim.deadline - self.ticks() > self.lease_ttl * RENEW_AT:
                continue
            try:
                self._renew_claim(claim)
            except NotHolder as exc:
                log.warning("lease on step %s was lost: %s", claim.step, exc)
                lost[claim.step] = str(exc)
        return lost

    def release(self, step: str) -> None:
        """Give the claim up.  An unfinished step is pending again; a complete
        one stays complete (completion is final)."""
        step = names.step_id(step)
        self._settle(step)
        current = self.read_claim(step)  # NotFound if unclaimed
        if current.agent != self.agent:
            raise NotHolder(f"step {step} is held by {current.agent}, not {self.agent}")
        self._delete_claim(current)
        with self._lock:
            self._held.pop(step, None)
            self._written.pop(step, None)
            seen_handoff = self._handoff_at_claim.pop(step, None)
        status, handoff = both(
            lambda: self._read_loosely(keys.status_key(step)),
            lambda: self._read_loosely(keys.handoff_key(step)),
            together=self.store.round_trips,
        )
        # A status left behind would outlive the claim (the CLI trusts
        # status.json), unless it is final.  A record from a newer epoch belongs
        # to whoever claimed the step right after our delete, and stays; an
        # unreadable one goes with the claim.
        if status is not None:
            theirs = _epoch_of(status)
            newer = theirs is not None and theirs > current.epoch
            final = status[0].get("status") == "complete" and theirs in (None, current.epoch)
            if not (newer or final):
                self._delete_if_unchanged(keys.status_key(step), status[1])
        # handoff.json stays as history, unless a holder fenced off before us
        # wrote it while we held the step: readers hid it, and must go on doing so.
        if handoff is not None and handoff[1] != seen_handoff:
            theirs = _epoch_of(handoff)
            if theirs is not None and theirs < current.epoch:
                self._delete_if_unchanged(keys.handoff_key(step), handoff[1])

    def _read_loosely(self, key: str) -> Record | None:
        """A record, with an unreadable one as an empty document."""
        try:
            blob = self.store.get(key)
        except NotFound:
            return None
        try:
            return records.decode(blob.body, key), blob.etag
        except CorruptObject:
            return {}, blob.etag

    def _delete_if_unchanged(self, key: str, etag: str) -> None:
        try:
            self.store.delete(key, if_match=etag)
        except (PreconditionFailed, NotFound):
            pass

    def _delete_claim(self, current: Claim) -> None:
        """Delete our claim; a renewal of the same lease (the background one)
        that moved the ETag on meanwhile is no reason to refuse."""
        for _ in range(3):
            try:
                self.store.delete(keys.claim_key(current.step), if_match=current.etag)
                return
            except NotFound:
                return
            except PreconditionFailed:
                latest = self._read_claim_or_none(current.step)
                if latest is None:
                    return
                if not self._same_lease(latest, current):
                    raise NotHolder(f"step {current.step} changed hands while releasing") from None
                current = latest
        raise TemporaryFailure(f"the lease on step {current.step} keeps changing; try again")

    # ----- status and handoff (holder only, fenced by epoch) -----

    def _require_holder(self, step: str) -> Claim:
        with self._lock:
            held = self._held.get(step)
        if held is not None:
            if self._lapsed(held):
                raise NotHolder(_lapsed_message(step, self.lease_ttl))
            # Our own live lease: nobody can take it over before it lapses, and
            # the epoch fences every record we write should it be gone anyway.
            return held
        current = self._read_claim_or_none(step)
        if current is None:
            raise NotHolder(f"step {step} is not claimed; claim it first")
        if current.agent != self.agent:
            raise NotHolder(f"step {step} is held by {current.agent}, not {self.agent}")
        if self._left(current)[0] <= 0:
            raise NotHolder(f"the lease on step {step} has expired; claim it again")
        return current

    def _fenced_put(
        self,
        key: str,
        doc: dict[str, Any],
        epoch: int,
        *,
        probably_new: bool = False,
        read: tuple[dict[str, Any], str] | object | None = _UNREAD,
    ) -> str:
        """Write a step record unless a newer epoch already wrote it.

        A compare-and-swap on the record's ETag, so a holder whose lease was taken
        over can never overwrite what the new holder wrote, even if its late
        write races the takeover.  ``probably_new``: try a create-only PUT first
        (one request instead of a read and a write when no record exists yet);
        ``read``: the record as the caller just read it, saving a read.  The
        new record's ETag.
        """
        body = records.encode(doc)
        if probably_new and (new := cas.put_if_unchanged(self.store, key, body, None)):
            return new
        # a record exists (or may): compare and swap on what we read
        for _ in cas.attempts(8, key):
            if read is _UNREAD:
                rec = self._read_record(key)
            else:
                rec, read = read, _UNREAD  # type: ignore[assignment]
            if rec is not None:
                theirs = rec[0].get("epoch")
                if isinstance(theirs, int) and not isinstance(theirs, bool) and theirs > epoch:
                    raise NotHolder(f"{key} was written under a newer lease (epoch {theirs})")
            etag = None if rec is None else rec[1]
            if (new := cas.put_if_unchanged(self.store, key, body, etag)) is not None:
                return new  # else someone wrote in between: look again
        raise AssertionError("unreachable")  # cas.attempts raises when they run out

    def _write_status(
        self,
        step: str,
        claim: Claim,
        status: str,
        *,
        started_at: str | None = None,
        read: Record | object | None = _UNREAD,
    ) -> dict[str, Any]:
        """``read``: the status record as a new claim read it (a new claim
        passes ``started_at``)."""
        now = records.now_iso()
        prev: Record | object | None = read
        if started_at is None:
            with self._lock:
                mine = self._written.get(step)
            # the record we wrote last is the base of the swap (a stale one fails
            # it, and the swap reads afresh); any other record is read first
            prev = mine if mine is not None else self._read_record(keys.status_key(step))
            started_at = prev[0].get("started_at") if prev else None
            if not isinstance(started_at, str):
                started_at = claim.claimed_at or now
        doc: dict[str, Any] = {
            "status": status,
            "agent": self.agent,
            "started_at": started_at,
        }
        if status == "complete":
            doc["completed_at"] = now
        doc["epoch"] = claim.epoch
        # A fresh claim (started_at given) that did not read the record usually
        # finds none.
        etag = self._fenced_put(
            keys.status_key(step), doc, claim.epoch, probably_new=prev is _UNREAD, read=prev
        )
        with self._lock:
            self._written[step] = (doc, etag)
        return doc

    def set_status(self, step: str, status: str) -> StepStatus:
        step = names.step_id(step)
        status = status.strip()
        if status not in WRITABLE_STATUSES:
            raise InvalidArgument(
                f"unknown status {status!r}: write one of {', '.join(WRITABLE_STATUSES)}"
            )
        self._settle(step)
        claim = self._require_holder(step)
        try:
            self._write_status(step, claim, status)
        except NotHolder:
            self._forget(step)  # fenced off: told so, and never renewed again
            raise
        if status != "in_progress":
            self._forget(step)
            self._ring(step)
        return StepStatus(step, status, self.agent, claim.epoch, claim)

    def _ring(self, step: str) -> None:
        """Wake the agents waiting on ``step`` (after its final status is written)."""
        if self.bells is not None:
            self.bells.ring_waiters(step)

    def _forget(self, step: str) -> None:
        """Stop renewing a finished step: its lease may lapse, and an expired
        lease on a complete step is never taken over."""
        with self._lock:
            self._held.pop(step, None)

    def handoff(
        self,
        step: str,
        *,
        note: str = "",
        next_agent: str | None = None,
        next_action: str | None = None,
        state: str = "complete",
        changed_files: list[str] | None = None,
    ) -> dict[str, Any]:
        step = names.step_id(step)
        if state not in ("complete", "blocked", "needs_review"):
            raise InvalidArgument(
                f"handoff state {state!r} must be complete, blocked or needs_review"
            )
        if next_agent is not None:
            names.agent_id(next_agent)
        self._settle(step)
        claim = self._require_holder(step)
        doc: dict[str, Any] = {
            "schema": 2,
            "from_agent": self.agent,
            "from_step": step,
            "next_agent": next_agent,
            "state": state,
            "next_action": next_action,
            "note": note,
            "created_at": records.now_iso(),
            "epoch": claim.epoch,
        }
        if changed_files is not None:
            doc["changed_files"] = [str(f) for f in changed_files]
        # The status and the handoff record do not depend on each other: written
        # together.  A crash in between leaves one of them: a final status with
        # no handoff (what the CLI's own order can leave), or a handoff while
        # the status still says in_progress, which the lease then lets lapse.
        # A handoff is written once per claim, so it is first tried create-only.
        # Should the status write find a newer epoch (we were fenced off), our
        # handoff goes again; readers never show it meanwhile (older epoch).
        landed: list[str] = []

        def write_handoff() -> None:
            landed.append(
                self._fenced_put(keys.handoff_key(step), doc, claim.epoch, probably_new=True)
            )

        try:
            both(
                lambda: self._write_status(step, claim, state),
                write_handoff,
                together=self.store.round_trips,
            )
        except NotHolder:
            self._forget(step)
            for etag in landed:
                with contextlib.suppress(TcfsError):
                    self._delete_if_unchanged(keys.handoff_key(step), etag)
            raise
        self._forget(step)
        self._ring(step)
        return doc
