"""JSON records: encoding, and decoding of untrusted objects from the bucket.

Objects written by other agents or tools are untrusted input: a body that is
not a JSON object, or a field of the wrong type, becomes a ``CorruptObject``
naming the key, never a traceback.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

from tcfs.errors import CorruptObject

MAX_RECORD = 1 << 20  # JSON records larger than this are refused as corrupt


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat()


def parse_iso(value: object) -> datetime | None:
    """An ISO timestamp from a record, or None when absent or malformed."""
    if not isinstance(value, str):
        return None
    try:
        dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)


def timestamp(value: object) -> float | None:
    """An ISO timestamp from a record in seconds since the epoch, or None."""
    dt = parse_iso(value)
    return dt.timestamp() if dt else None


def encode(doc: dict[str, Any]) -> bytes:
    """The CLI writes ``json.dumps(doc, indent=2)``; so do we."""
    return json.dumps(doc, indent=2, ensure_ascii=False).encode()


def decode(body: bytes, key: str) -> dict[str, Any]:
    if len(body) > MAX_RECORD:
        raise CorruptObject(f"{key}: record is {len(body)} bytes, larger than {MAX_RECORD}")
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise CorruptObject(f"{key}: not valid JSON ({exc})", cause=exc) from exc
    if not isinstance(doc, dict):
        raise CorruptObject(f"{key}: expected a JSON object, got {type(doc).__name__}")
    return doc


def field(
    doc: dict[str, Any],
    name: str,
    kind: type | tuple[type, ...],
    key: str,
    *,
    default: Any = None,
    required: bool = False,
) -> Any:
    """A typed field of an untrusted record."""
    if name not in doc or doc[name] is None:
        if required:
            raise CorruptObject(f"{key}: missing field {name!r}")
        return default
    value = doc[name]
    if isinstance(value, bool) and kind is not bool:  # bool is an int in Python
        raise CorruptObject(f"{key}: field {name!r} is a boolean")
    if not isinstance(value, kind):
        raise CorruptObject(f"{key}: field {name!r} has type {type(value).__name__}")
    return value
