"""One event: what an agent did, the hash that chains it to the agent's
previous event, and its JSON form inside a batch object."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

from tcfs.errors import CorruptObject
from tcfs.protocol import records
from tcfs.protocol.events import words

KINDS = (
    "claim",
    "takeover",
    "release",
    "renew-failed",
    "status",
    "handoff",
    "send",
    "broadcast",
    "memory-set",
    "memory-delete",
    "artifact-put",
    "artifact-delete",
    "agent-up",
    "agent-down",
    "reserve",
    "reserve-release",
    "reserve-lost",
)
#: text fields of a detail are cut to this many characters
EXCERPT = 200

Scalar = str | int | float | bool | None
Detail = dict[str, Scalar]


def excerpt(text: str, limit: int = EXCERPT) -> str:
    """The start of ``text``, marked when cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def clean(value: object) -> Scalar:
    """A detail value: scalars as they are, anything else as an excerpt of its text."""
    if value is None or isinstance(value, (bool, int, float)):
        return value
    return excerpt(str(value))


def _canonical(doc: dict[str, object]) -> bytes:
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


@dataclass(frozen=True)
class Event:
    """One thing an agent did.  ``source`` is ``tcfs`` (from the log) or ``cli``
    (derived from a record the tracecraft CLI wrote)."""

    id: str
    ts: float
    agent: str
    kind: str
    subject: str | None = None
    epoch: int | None = None
    detail: Detail = field(default_factory=dict)
    seq: int | None = None
    prev: str | None = None
    hash: str | None = None
    source: str = "tcfs"
    key: str | None = None  # the batch or record it was read from

    def chained_fields(self) -> dict[str, object]:
        """What the hash covers: everything the writer wrote but the hash."""
        return {
            "id": self.id,
            "ts": self.ts,
            "agent": self.agent,
            "kind": self.kind,
            "subject": self.subject,
            "epoch": self.epoch,
            "detail": self.detail,
            "seq": self.seq,
            "prev": self.prev,
        }

    def compute_hash(self) -> str:
        return hashlib.sha256(_canonical(self.chained_fields())).hexdigest()

    def to_json(self) -> dict[str, object]:
        doc = self.chained_fields()
        doc.update(hash=self.hash, source=self.source, key=self.key)
        return doc

    def covers(self) -> str | None:
        """The CLI-compatible record this event accounts for, so the same
        record is not derived a second time as the CLI's."""
        if self.kind in ("send", "broadcast"):
            key = self.detail.get("key")
            return key if isinstance(key, str) else None
        if self.kind == "memory-set":
            set_at = self.detail.get("set_at")
            return (
                f"memory:{self.subject}:{self.agent}:{set_at}" if isinstance(set_at, str) else None
            )
        return None

    def line(self) -> str:
        """One human-readable line, free of control characters."""
        return words.line(self)


def event_from(doc: object, key: str) -> Event:
    """An event as a batch holds it; raises ``CorruptObject`` on any wrong shape."""
    if not isinstance(doc, dict):
        raise CorruptObject(f"{key}: an event is not a JSON object")
    detail = records.field(doc, "detail", dict, key, default={})
    kept: Detail = {}
    for name, value in detail.items():
        if isinstance(name, str):
            kept[name] = value if isinstance(value, (str, int, float, bool)) else clean(value)
    ts = records.field(doc, "ts", (int, float), key, required=True)
    return Event(
        id=records.field(doc, "id", str, key, required=True),
        ts=float(ts),
        agent=records.field(doc, "agent", str, key, required=True),
        kind=records.field(doc, "kind", str, key, required=True),
        subject=records.field(doc, "subject", str, key),
        epoch=records.field(doc, "epoch", int, key),
        detail=kept,
        seq=records.field(doc, "seq", int, key),
        prev=records.field(doc, "prev", str, key),
        hash=records.field(doc, "hash", str, key),
        key=key,
    )


def written_form(ev: Event) -> dict[str, object]:
    """The event as its writer puts it in a batch (what it was read from is no part of it)."""
    return {k: v for k, v in ev.to_json().items() if k not in ("source", "key")}
