"""Agent records, presence, and a mount's claim on its identity: ``agents/<id>.json``.

The CLI writes the record once at ``init`` and never refreshes it, so every
agent looks stale after five minutes.  A mount heartbeats its own record while
it is mounted, and readers compute presence from the heartbeat's age.

One agent id is mounted once: two mounts of it would both write the agent's
event log, whose hash chain then forks.  A mount claims the id by writing its
``mount`` field (instance, host, mountpoint, pid, since) with a conditional
write, and heartbeats with ``If-Match`` on the version it wrote last, so it
learns at once when another instance wrote the record.  A record held by
another instance is taken over only when asked (``takeover``) and only from a
holder that is gone: its daemon is not running on this host, or the record
stayed unchanged for a heartbeat window measured on this machine's monotonic
clock (never by comparing wall clocks, which may be skewed).
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from tcfs import names
from tcfs.errors import (
    AgentMounted,
    Contention,
    CorruptObject,
    IdentityLost,
    InvalidName,
    NotFound,
    PreconditionFailed,
)
from tcfs.protocol import keys, records
from tcfs.store.base import ObjectInfo, Store

log = logging.getLogger(__name__)

#: the CLI's rule: a heartbeat older than this reads as stale
STALE_AFTER_S = 300.0
#: a mount heartbeats this often: 30 PUTs an hour ($0.00015 at S3 prices),
#: and a live agent's record is never older than 40% of STALE_AFTER_S
HEARTBEAT_S = 120.0
#: a holder is gone once its record stayed unchanged this many of its heartbeats
GONE_AFTER_BEATS = 1.5
#: how often a takeover looks at the record while it watches (one HEAD each)
WATCH_POLL_S = 5.0
#: conditional writes of one claim or heartbeat before it gives up
CLAIM_ATTEMPTS = 5
#: the record field that says which mount holds the agent id (the CLI ignores it)
MOUNT_FIELD = "mount"


@dataclass(frozen=True)
class Holder:
    """The mount that holds an agent id, as its record says."""

    instance: str
    host: str
    mountpoint: str
    pid: int
    since: str
    heartbeat_s: float = HEARTBEAT_S

    @classmethod
    def new(cls, host: str, mountpoint: str, pid: int, heartbeat_s: float) -> Holder:
        return cls(uuid.uuid4().hex, host, mountpoint, pid, records.now_iso(), heartbeat_s)

    @classmethod
    def of(cls, doc: dict[str, Any]) -> Holder | None:
        """The holder a record names; None if none (released, or the CLI's record)."""
        m = doc.get(MOUNT_FIELD)
        if not isinstance(m, dict) or not isinstance(m.get("instance"), str):
            return None
        beat = m.get("heartbeat_s")
        pid = m.get("pid")
        return cls(
            instance=m["instance"],
            host=str(m.get("host", "?")),
            mountpoint=str(m.get("mountpoint", "?")),
            pid=pid if isinstance(pid, int) else 0,
            since=str(m.get("since", "?")),
            heartbeat_s=float(beat) if isinstance(beat, (int, float)) else HEARTBEAT_S,
        )

    def describe(self) -> str:
        return f"{self.host}:{self.mountpoint} (pid {self.pid}, mounted since {self.since})"

    def gone_after_s(self) -> float:
        return self.heartbeat_s * GONE_AFTER_BEATS


@dataclass
class AgentRecord:
    id: str
    status: str
    step: str | None
    started_at: str | None
    heartbeat: str | None
    summary: str | None
    presence: str  # online | stale | unknown
    heartbeat_age_s: float | None
    raw: dict[str, Any] = field(default_factory=dict, repr=False)


class Agents:
    def __init__(self, store: Store, agent: str, *, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.agent = names.agent_id(agent)
        self.clock = clock
        self._started_at: str | None = None
        self._summary = "mounted"
        #: this mount's claim on the id (None: the record is written unconditionally)
        self.holder: Holder | None = None
        #: the version of the record this mount wrote last
        self._etag: str | None = None
        #: the mount that took the id over from this one
        self.lost_to: Holder | None = None

    @property
    def key(self) -> str:
        return keys.agent_key(self.agent)

    @property
    def heartbeat_s(self) -> float:
        """How often this agent's mount refreshes its record."""
        return self.holder.heartbeat_s if self.holder is not None else HEARTBEAT_S

    def _doc(self, status: str, step: str | None, summary: str) -> dict[str, Any]:
        now = records.now_iso()
        if self._started_at is None:
            self._started_at = now
        doc: dict[str, Any] = {
            "id": self.agent,
            "status": status,
            "step": step,
            "started_at": self._started_at,
            "heartbeat": now,
            "summary": summary,
        }
        if self.holder is not None:
            doc[MOUNT_FIELD] = asdict(self.holder)
        return doc

    def register(self, summary: str = "mounted") -> AgentRecord:
        """Write this agent's record, claiming nothing (see ``claim``)."""
        self._summary = summary
        doc = self._doc("active", None, summary)
        self.store.put(self.key, records.encode(doc))
        return self._record(doc, self.key)

    def claim(
        self,
        summary: str,
        holder: Holder,
        *,
        takeover: bool = False,
        gone_here: Callable[[Holder], bool] = lambda _h: False,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> Holder | None:
        """Write this agent's record as claimed by the mount ``holder``:
        ``AgentMounted`` if another mount holds it, unless ``takeover`` and that
        mount is gone (``gone_here`` says so for one this host can see, else
        the record must stay unchanged for the holder's heartbeat window).
        Returns the holder taken over from, if any."""
        self._summary = summary
        self.holder = holder
        try:
            return self._claim(summary, holder, takeover, gone_here, sleep, monotonic)
        except BaseException:
            self.holder = None
            raise

    def _claim(
        self,
        summary: str,
        holder: Holder,
        takeover: bool,
        gone_here: Callable[[Holder], bool],
        sleep: Callable[[float], None],
        monotonic: Callable[[], float],
    ) -> Holder | None:
        # a fresh id costs one request; a record already there costs a GET more
        if_match: str | None = None
        previous: Holder | None = None
        for _ in range(CLAIM_ATTEMPTS):
            doc = self._doc("active", None, summary)
            try:
                self._etag = self.store.put(
                    self.key, records.encode(doc), if_none_match=if_match is None, if_match=if_match
                )
                return previous
            except (PreconditionFailed, NotFound):
                pass
            try:
                blob = self.store.get(self.key)
            except NotFound:
                if_match = None
                continue
            other = self._holder_in(blob.body)
            if other is not None and other.instance != holder.instance:
                if not takeover:
                    raise AgentMounted(self._refusal(other))
                if not gone_here(other):
                    self._watch(other, blob.etag, sleep, monotonic)
                previous = other
            if_match = blob.etag
        raise Contention(f"{self.key}: the record kept changing while this mount claimed it")

    def _holder_in(self, body: bytes) -> Holder | None:
        """The mount a record names; a malformed record names none (it is replaced)."""
        try:
            return Holder.of(records.decode(body, self.key))
        except CorruptObject as exc:
            log.warning("%s: replacing a malformed agent record", exc)
            return None

    def _refusal(self, other: Holder) -> str:
        return (
            f"agent {self.agent!r} is already mounted at {other.describe()}; one agent, one "
            f"mount (two would fork its event log). Unmount it there (tcfs umount "
            f"{other.mountpoint}), or, if that mount is gone (its daemon killed, its machine "
            f"down), mount with --takeover: it takes over once that mount's record stays "
            f"unchanged for {other.gone_after_s():g}s (at once when its daemon is gone from "
            f"this host)"
        )

    def _watch(
        self,
        other: Holder,
        etag: str | None,
        sleep: Callable[[float], None],
        monotonic: Callable[[], float],
    ) -> None:
        """Return once ``other``'s record stayed at ``etag`` for its heartbeat
        window on the local monotonic clock; ``AgentMounted`` if it changed."""
        window = other.gone_after_s()
        log.info("watching %s for %gs before taking it over", other.describe(), window)
        deadline = monotonic() + window
        while (left := deadline - monotonic()) > 0:
            sleep(min(WATCH_POLL_S, left))
            try:
                now = self.store.head(self.key).etag
            except NotFound:
                return
            if now != etag:
                raise AgentMounted(
                    f"agent {self.agent!r} is mounted at {other.describe()}, and that mount "
                    f"is alive: its record changed while this one watched"
                )

    def heartbeat(self, step: str | None = None, status: str = "active") -> None:
        """Refresh the record.  A claimed id is written ``If-Match`` the version
        this mount wrote: ``IdentityLost`` if another mount wrote it since
        (a rewrite that names no mount, like the CLI's, is taken back)."""
        if self.holder is None:
            self.store.put(self.key, records.encode(self._doc(status, step, self._summary)))
            return
        if self.lost_to is not None:
            raise IdentityLost(self._lost())
        doc = self._doc(status, step, self._summary)
        try:
            self._etag = self.store.put(self.key, records.encode(doc), if_match=self._etag)
            return
        except (PreconditionFailed, NotFound):
            pass
        try:
            blob = self.store.get(self.key)
        except NotFound:
            self._etag = self.store.put(self.key, records.encode(doc), if_none_match=True)
            return
        other = self._holder_in(blob.body)
        if other is not None and other.instance != self.holder.instance:
            self.lost_to = other
            raise IdentityLost(self._lost())
        self._etag = self.store.put(self.key, records.encode(doc), if_match=blob.etag)

    def _lost(self) -> str:
        assert self.lost_to is not None
        return (
            f"agent {self.agent!r} was taken over by the mount at {self.lost_to.describe()}: "
            f"this mount writes no more events and no heartbeat (unmount it)"
        )

    def release(self) -> None:
        """At a clean unmount: the record names no mount, so the next mount of
        the id needs no takeover.  Left alone if another mount wrote it since."""
        if self.holder is None or self.lost_to is not None:
            return
        self.holder = None
        doc = self._doc("active", None, self._summary)
        doc[MOUNT_FIELD] = None
        try:
            self.store.put(self.key, records.encode(doc), if_match=self._etag)
        except (PreconditionFailed, NotFound):
            log.info("%s changed since this mount wrote it: left as it is", self.key)

    def get(self, agent_id: str) -> AgentRecord:
        agent_id = names.agent_id(agent_id)
        key = keys.agent_key(agent_id)
        blob = self.store.get(key)
        return self._record(records.decode(blob.body, key), key)

    def ids(self) -> list[str]:
        """Every agent with a record (one delimited LIST)."""
        out = []
        for entry in self.store.list(keys.AGENTS_ROOT, delimiter="/"):
            aid = keys.agent_of(entry.key) if isinstance(entry, ObjectInfo) else None
            if aid is None:
                continue
            try:
                out.append(names.agent_id(aid))
            except InvalidName:
                log.debug("skipping agent record with a name tcfs does not accept: %r", aid)
        return out

    def _record(self, doc: dict[str, Any], key: str) -> AgentRecord:
        hb = records.field(doc, "heartbeat", str, key)
        dt = records.parse_iso(hb)
        age = max(0.0, self.clock() - dt.timestamp()) if dt else None
        status = records.field(doc, "status", str, key, default="unknown")
        presence = "unknown" if age is None else ("stale" if age > STALE_AFTER_S else "online")
        step = doc.get("step")
        if step is not None and not isinstance(step, str):
            raise CorruptObject(f"{key}: field 'step' has type {type(step).__name__}")
        return AgentRecord(
            id=records.field(doc, "id", str, key, default=keys.agent_of(key)),
            status=status,
            step=step,
            started_at=records.field(doc, "started_at", str, key),
            heartbeat=hb,
            summary=records.field(doc, "summary", str, key),
            presence=presence,
            heartbeat_age_s=round(age, 1) if age is not None else None,
            raw=doc,
        )

    def render(self, rec: AgentRecord) -> bytes:
        doc = dict(rec.raw)
        doc["presence"] = rec.presence
        doc["heartbeat_age_s"] = rec.heartbeat_age_s
        return (json.dumps(doc, indent=2, ensure_ascii=False) + "\n").encode()


__all__ = ["HEARTBEAT_S", "STALE_AFTER_S", "AgentRecord", "Agents", "Holder", "NotFound"]
