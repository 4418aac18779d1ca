"""File reservations: path globs one agent holds as a lease, so that no other
agent edits those paths meanwhile.

Every live reservation of a project is in one object,
``reservations/_index.json``, changed only by compare-and-swap (``If-Match``
on the ETag read, ``If-None-Match`` to create it).  A reservation reads the
index, checks the new globs against every live reservation of another agent
(``globs.overlap``), and writes the index back at the ETag it read: of two
agents reserving overlapping globs at the same instant, one write loses with
412, reads again, and finds the other's reservation.  No server, and on any
backend with conditional writes never two live overlapping reservations.

A reservation is a lease: ``lease_ttl_s``, a ``lease_id`` and a ``version``
its holder bumps on every renewal (at half the lease, by this process's
monotonic clock).  Clocks of machines are not trusted to agree, so an observer
judges a lease expired only once it has seen the same ``(lease_id, version)``
unchanged for the whole lease plus ``MARGIN_S`` on its own monotonic clock:
a freshly started observer waits a full lease.  An expired reservation is
dropped by the next write of the index, and its holder, which can no longer
find its ``lease_id``, knows it lost it.  Each reservation's ``epoch`` is the
index generation it was made at: a total order every reader agrees on.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from tcfs import globs, names
from tcfs.errors import ClaimTaken, CorruptObject, NotFound, NotHolder, TcfsError
from tcfs.protocol import cas, keys, records
from tcfs.store.base import Store

log = logging.getLogger(__name__)

#: an observer waits this long past a lease, unchanged, before it takes it as expired
MARGIN_S = 2.0
#: the holder renews when this fraction of the lease has gone by
RENEW_AT = 0.5
SCHEMA = 1


@dataclass(frozen=True)
class Reservation:
    name: str
    agent: str
    globs: tuple[str, ...]
    lease_ttl_s: float
    lease_id: str
    version: int
    epoch: int
    created_at: str
    renewed_at: str
    #: seconds this observer has seen it unchanged (0 when just written)
    unchanged_s: float = 0.0
    #: the agent whose expired reservation of this name it replaced
    taken_from: str | None = None

    def doc(self) -> dict[str, Any]:
        return {
            "agent": self.agent,
            "globs": list(self.globs),
            "lease_ttl_s": self.lease_ttl_s,
            "lease_id": self.lease_id,
            "version": self.version,
            "epoch": self.epoch,
            "created_at": self.created_at,
            "renewed_at": self.renewed_at,
        }

    def covers(self, path: str) -> str | None:
        """The first of its globs that covers ``path``, or None."""
        return next((g for g in self.globs if globs.matches(g, path)), None)

    def render(self) -> bytes:
        left = max(0.0, self.lease_ttl_s + MARGIN_S - self.unchanged_s)
        lines = [
            f"agent: {self.agent}",
            f"epoch: {self.epoch}",
            f"created_at: {self.created_at}",
            f"renewed_at: {self.renewed_at}",
            f"lease: {self.lease_ttl_s:g}s, renewed by its holder's mount; expires "
            f"{left:.0f}s after its last renewal seen here, if not renewed",
            "globs:",
            *(f"  {g}" for g in self.globs),
        ]
        return ("\n".join(lines) + "\n").encode()


def _parse(name: str, doc: object) -> Reservation:
    key = f"{keys.RESERVATIONS_INDEX}: {name}"
    if not isinstance(doc, dict):
        raise CorruptObject(f"{key}: not a JSON object")
    found = records.field(doc, "globs", list, key, required=True)
    if not found or not all(isinstance(g, str) for g in found):
        raise CorruptObject(f"{key}: globs must be a list of strings")
    return Reservation(
        name=names.reservation_name(name),
        agent=names.agent_id(records.field(doc, "agent", str, key, required=True)),
        globs=tuple(found),
        lease_ttl_s=float(records.field(doc, "lease_ttl_s", (int, float), key, required=True)),
        lease_id=records.field(doc, "lease_id", str, key, required=True),
        version=records.field(doc, "version", int, key, default=0),
        epoch=records.field(doc, "epoch", int, key, default=0),
        created_at=records.field(doc, "created_at", str, key, default=""),
        renewed_at=records.field(doc, "renewed_at", str, key, default=""),
    )


@dataclass
class _Index:
    """The index as read: its generation, reservations, and ETag (None: absent)."""

    generation: int
    entries: dict[str, Reservation]
    etag: str | None
    #: the expired reservations this write drops
    dropped: dict[str, Reservation] = field(default_factory=dict)
    #: entries another tool wrote that are not reservations: kept as they were
    foreign: dict[str, Any] = field(default_factory=dict)

    def body(self) -> bytes:
        found = {**self.foreign, **{n: r.doc() for n, r in self.entries.items()}}
        return records.encode(
            {
                "schema": SCHEMA,
                "generation": self.generation,
                "reservations": dict(sorted(found.items())),
            }
        )


class FileReservations:
    """One agent's reservations in one project, and its view of everyone's."""

    def __init__(
        self,
        store: Store,
        agent: str,
        *,
        lease_ttl: float = 60.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.agent = names.agent_id(agent)
        self.lease_ttl = float(lease_ttl)
        self.monotonic = monotonic
        #: (lease_id, version) of each reservation seen, and since when, unchanged
        self._seen: dict[str, tuple[tuple[str, int], float]] = {}
        #: our reservations: name -> (lease_id, when we last wrote it)
        self._held: dict[str, tuple[str, float]] = {}
        #: why this agent's last reservation was refused (a shell sees only EEXIST)
        self.last_refusal: str | None = None
        self._lock = threading.Lock()

    # ----- reading -----

    def _read(self) -> _Index:
        """The index, every entry observed (malformed ones skipped, logged)."""
        try:
            blob = self.store.get(keys.RESERVATIONS_INDEX)
        except NotFound:
            return _Index(0, {}, None)
        doc = records.decode(blob.body, keys.RESERVATIONS_INDEX)
        found = doc.get("reservations")
        generation = doc.get("generation")
        if not isinstance(found, dict) or not isinstance(generation, int):
            raise CorruptObject(f"{keys.RESERVATIONS_INDEX}: not a reservation index")
        entries: dict[str, Reservation] = {}
        foreign: dict[str, Any] = {}
        for name, raw in found.items():
            try:
                entries[name] = _parse(name, raw)
            except TcfsError as exc:
                log.warning("skipping a malformed reservation: %s", exc)
                foreign[name] = raw
        return _Index(generation, self._observe(entries), blob.etag, foreign=foreign)

    def _observe(self, entries: dict[str, Reservation]) -> dict[str, Reservation]:
        """Note what is seen now; each entry with how long it has gone unchanged."""
        now = self.monotonic()
        out = {}
        with self._lock:
            for name, r in entries.items():
                seen = self._seen.get(name)
                version = (r.lease_id, r.version)
                if seen is None or seen[0] != version:
                    seen = self._seen[name] = (version, now)
                out[name] = replace(r, unchanged_s=now - seen[1])
            for gone in set(self._seen) - set(entries):
                del self._seen[gone]
        return out

    def _expired(self, r: Reservation) -> bool:
        return r.unchanged_s > r.lease_ttl_s + MARGIN_S

    def live(self) -> list[Reservation]:
        """Every live reservation, by name (one GET)."""
        index = self._read()
        return [r for _, r in sorted(index.entries.items()) if not self._expired(r)]

    def get(self, name: str) -> Reservation:
        name = names.reservation_name(name)
        found = next((r for r in self.live() if r.name == name), None)
        if found is None:
            raise NotFound(f"no live reservation {name!r}")
        return found

    def held(self) -> list[str]:
        with self._lock:
            return sorted(self._held)

    # ----- writing -----

    def _swap(
        self, what: str, change: Callable[[_Index], Reservation | None]
    ) -> Reservation | None:
        """Read the index, drop the expired, apply ``change``, write it back
        at the ETag read; again on a lost race."""
        for _ in cas.attempts(8, "the reservation index"):
            index = self._read()
            index.dropped = {n: r for n, r in index.entries.items() if self._expired(r)}
            index.entries = {n: r for n, r in index.entries.items() if n not in index.dropped}
            result = change(index)
            index.generation += 1
            if cas.put_if_unchanged(self.store, keys.RESERVATIONS_INDEX, index.body(), index.etag):
                return result
            log.debug("the reservation index changed under %s: reading it again", what)
        raise AssertionError("unreachable")  # cas.attempts raises when it runs out

    def reserve(self, name: str, text_or_globs: str | Iterable[str]) -> Reservation:
        """Reserve the globs under ``name`` for this agent (a name it holds
        already: replace its globs, renewing it).  ``ClaimTaken``
        (EEXIST) names the holder of the name or of an overlapping one."""
        name = names.reservation_name(name)
        wanted = tuple(
            globs.parse(text_or_globs)
            if isinstance(text_or_globs, str)
            else globs.parse("\n".join(text_or_globs))
        )

        def change(index: _Index) -> Reservation:
            current = index.entries.get(name)
            if current is not None and current.agent != self.agent:
                raise self.refused(name, current)
            for other in index.entries.values():
                both = first_clash(other, self.agent, wanted)
                if both is not None:
                    raise self.refused(name, other, f"{both[0]} overlaps {both[1]} of ")
            now = records.now_iso()
            if current is not None:  # ours: the same lease, renewed with new globs
                made = replace(current, globs=wanted, version=current.version + 1, renewed_at=now)
            else:
                made = Reservation(
                    name=name,
                    agent=self.agent,
                    globs=wanted,
                    lease_ttl_s=self.lease_ttl,
                    lease_id=uuid.uuid4().hex,
                    version=0,
                    epoch=index.generation + 1,
                    created_at=now,
                    renewed_at=now,
                    taken_from=next(
                        (
                            r.agent
                            for r in index.dropped.values()
                            if r.agent != self.agent
                            and (r.name == name or first_clash(r, self.agent, wanted))
                        ),
                        None,
                    ),
                )
            index.entries[name] = made
            return made

        made = self._swap(f"reservation {name}", change)
        assert made is not None
        with self._lock:
            self._held[name] = (made.lease_id, self.monotonic())
        return replace(made, unchanged_s=0.0)

    def refused(self, name: str, holder: Reservation, why: str = "") -> ClaimTaken:
        """The refusal of ``name`` because of ``holder``'s reservation,
        remembered for ``last_refusal``."""
        exc = ClaimTaken(
            f"{why}reservation {holder.name} held by {holder.agent}", holder=holder.agent
        )
        self.last_refusal = f"{records.now_iso()} reservations/{name}: {exc}"
        return exc

    def release(self, name: str) -> Reservation:
        """Remove our reservation ``name``: ``NotFound`` if there is none,
        ``NotHolder`` (EPERM) if another agent holds it."""
        name = names.reservation_name(name)

        def change(index: _Index) -> Reservation:
            current = index.entries.get(name)
            if current is None:
                raise NotFound(f"no live reservation {name!r}")
            if current.agent != self.agent:
                raise NotHolder(f"reservation {name} is held by {current.agent}")
            del index.entries[name]
            return current

        gone = self._swap(f"the release of {name}", change)
        assert gone is not None
        with self._lock:
            self._held.pop(name, None)
        return gone

    def renew_all(self) -> list[str]:
        """Renew our reservations past ``RENEW_AT`` of their lease, all in one
        write; returns those lost (taken over or released elsewhere)."""
        now = self.monotonic()
        with self._lock:
            due = {
                n: lease
                for n, (lease, at) in self._held.items()
                if now - at >= self.lease_ttl * RENEW_AT
            }
        if not due:
            return []
        lost: list[str] = []

        def change(index: _Index) -> None:
            lost.clear()
            stamp = records.now_iso()
            for name, lease in due.items():
                current = index.entries.get(name)
                if current is None or current.lease_id != lease:
                    lost.append(name)
                else:
                    index.entries[name] = replace(
                        current, version=current.version + 1, renewed_at=stamp
                    )

        self._swap("a renewal", change)
        with self._lock:
            for name in due:
                if name in lost:
                    self._held.pop(name, None)
                elif name in self._held:
                    self._held[name] = (due[name], now)
        return lost


def first_clash(other: Reservation, agent: str, wanted: Iterable[str]) -> tuple[str, str] | None:
    """The first of ``wanted`` and of ``other``'s globs that overlap, when
    ``other`` is another agent's; None when ``agent`` may have both."""
    if other.agent == agent:
        return None
    return globs.first_overlap(wanted, other.globs)
