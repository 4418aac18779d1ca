"""tcfs's hooks in a YAML settings file (Hermes): a ``hooks:`` mapping inside
one marked block (``markedblock``).  A file with a top-level ``hooks:`` key of
its own is refused (two such keys would clash)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

from tcfs.hooks import markedblock
from tcfs.hooks.hookfile import MATCHER, Found, Handler

_TOP_HOOKS = re.compile(r"^hooks:", re.MULTILINE)


def _quote(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


def install(path: Path, harness: str, handlers: Mapping[str, Handler]) -> bool:
    lines = ["hooks:\n"]
    for event, h in handlers.items():
        lines.append(f"  {event}:\n")
        lines.append(f"    - command: {_quote(str(h['command']))}\n")
        lines.append(f"      timeout: {int(str(h['timeout']))}\n")
        if MATCHER in h:
            lines.append(f"      matcher: {_quote(str(h[MATCHER]))}\n")
    return markedblock.install(path, harness, "".join(lines), _TOP_HOOKS)


def uninstall(path: Path, harness: str) -> bool:
    return markedblock.uninstall(path, harness)


def find(path: Path, harness: str) -> list[Found]:
    out, event = [], None
    for line in (markedblock.body(path, harness) or "").splitlines():
        if line.startswith("  ") and not line.startswith("   ") and line.endswith(":"):
            event = line.strip()[:-1]
        elif line.strip().startswith("- command: ") and event:
            value = line.strip()[len("- command: ") :]
            out.append(Found(event, value[1:-1].replace("''", "'")))
    return out
