"""An event in words: one line of ``events`` on the mount (``tail -f``) and of
``tcfs replay``, never carrying a control character to a terminal."""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tcfs.protocol.events.event import Event, Scalar

# C0/C1 controls and DEL: an event line must never drive a terminal (tail -f)
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")

#: each kind's words; the fields are those of ``_fields``
WORDS = {
    "claim": "claimed {s}{again} ({epoch}, {lease})",
    "takeover": "took over {s} from {from} ({epoch})",
    "release": "released {s}",
    "renew-failed": "lost the lease on {s} ({epoch}): {reason}",
    "status": "set {s} to {status}",
    "handoff": "handed off {s}{to} ({state}): {note}",
    "send": "sent {s} {text}",
    "broadcast": "broadcast {text}",
    "memory-set": "set memory {s} = {old}{value}",
    "memory-delete": "deleted memory {s}",
    "artifact-put": "uploaded artifact {s} ({size})",
    "artifact-delete": "deleted artifact {s}",
    "agent-up": "is up ({how})",
    "agent-down": "is down ({how})",
    "reserve": "reserved {s}{again}{taken}: {globs}",
    "reserve-release": "released reservation {s}",
    "reserve-lost": "lost reservation {s}: {reason}",
}


def line(ev: Event) -> str:
    """One human-readable line, free of control characters."""
    when = datetime.fromtimestamp(ev.ts, timezone.utc).strftime("%H:%M:%S")
    text = f"{when} {ev.agent} {describe(ev)}"
    if ev.source == "cli":
        text += " [tracecraft CLI]"
    return _CONTROL.sub(_escape_control, text)


def describe(ev: Event) -> str:
    """What happened, in words (the line without time and agent)."""
    words = WORDS.get(ev.kind)
    return words.format(**_fields(ev)) if words else f"{ev.kind} {ev.subject or '?'}"


def _escape_control(m: re.Match[str]) -> str:
    return f"\\x{ord(m.group(0)):02x}"


def _quote(value: Scalar) -> str:
    return json.dumps(value, ensure_ascii=False)


def _size(n: Scalar) -> str:
    if not isinstance(n, int) or isinstance(n, bool):
        return "?"
    size = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{n} B"


def _fields(ev: Event) -> dict[str, str]:
    d = ev.detail
    lease = d.get("lease_s")
    return {
        "s": ev.subject or "?",
        "epoch": f"epoch {ev.epoch}" if ev.epoch is not None else "no epoch",
        "lease": f"lease {lease:g} s" if isinstance(lease, (int, float)) else "no lease",
        "again": " again" if d.get("renewed") else "",
        "from": str(d.get("from", "?")),
        "reason": str(d.get("reason", "renewal refused")),
        "status": str(d.get("status", "?")),
        "to": f" to {d['next_agent']}" if d.get("next_agent") else "",
        "state": str(d.get("state") or "complete"),
        "note": _quote(d.get("note", "")),
        "text": _quote(d.get("text", "")),
        "old": f"{_quote(d['old'])} → " if "old" in d else "",
        "value": _quote(d.get("value", "")),
        "size": _size(d.get("size")),
        "how": str(d.get("how") or ("mounted" if ev.kind == "agent-up" else "unmounted")),
        "globs": str(d.get("globs", "?")),
        "taken": f" (expired, from {d['from']})" if d.get("from") else "",
    }
