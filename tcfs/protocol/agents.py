"""Agent records and presence: ``agents/<id>.json``.

The CLI writes the record once at ``init`` and never refreshes it, so every
agent looks stale after five minutes.  A mount heartbeats its own record while
it is mounted, and readers compute presence from the heartbeat's age.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tcfs import names
from tcfs.errors import CorruptObject, InvalidName, NotFound
from tcfs.protocol import keys, records
from tcfs.store.base import ObjectInfo, Store

log = logging.getLogger(__name__)

#: the CLI's rule: a heartbeat older than this reads as stale
STALE_AFTER_S = 300.0


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

    def _doc(self, status: str, step: str | None, summary: str) -> dict[str, Any]:
        now = records.now_iso()
        if self._started_at is None:
            self._started_at = now
        return {
            "id": self.agent,
            "status": status,
            "step": step,
            "started_at": self._started_at,
            "heartbeat": now,
            "summary": summary,
        }

    def register(self, summary: str = "mounted") -> AgentRecord:
        self._summary = summary
        doc = self._doc("active", None, summary)
        self.store.put(keys.agent_key(self.agent), records.encode(doc))
        return self._record(doc, keys.agent_key(self.agent))

    def heartbeat(self, step: str | None = None, status: str = "active") -> None:
        summary = getattr(self, "_summary", "mounted")
        self.store.put(keys.agent_key(self.agent), records.encode(self._doc(status, step, summary)))

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


__all__ = ["STALE_AFTER_S", "AgentRecord", "Agents", "NotFound"]
