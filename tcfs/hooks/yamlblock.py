"""tcfs's hooks as one marked block at the end of a YAML settings file (Hermes).

tcfs ships no YAML parser, so it never edits the user's YAML: it appends a
block between two marker comments and removes exactly that block again.  A
file that already has a top-level ``hooks:`` key of its own is refused (two
such keys would clash): the error shows the lines to add to it by hand.
Install twice is a no-op; install with another mount replaces the block.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

from tcfs.hooks import hookfile
from tcfs.hooks.hookfile import Found, Handler, SettingsError

BEGIN = "# >>> tcfs hooks ({harness}): written by `tcfs hooks install`, removed by uninstall\n"
END = "# <<< tcfs hooks ({harness})\n"
_TOP_HOOKS = re.compile(r"^hooks\s*:", re.MULTILINE)


def _quote(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


def _block(harness: str, handlers: Mapping[str, Handler]) -> str:
    lines = [BEGIN.format(harness=harness), "hooks:\n"]
    for event, h in handlers.items():
        lines.append(f"  {event}:\n")
        lines.append(f"    - command: {_quote(str(h['command']))}\n")
        lines.append(f"      timeout: {int(str(h['timeout']))}\n")
    lines.append(END.format(harness=harness))
    return "".join(lines)


def _span(text: str, harness: str) -> tuple[int, int] | None:
    start = text.find(BEGIN.format(harness=harness))
    if start < 0:
        return None
    end = text.find(END.format(harness=harness), start)
    if end < 0:
        raise SettingsError("the tcfs block has lost its end marker; nothing was changed")
    return start, end + len(END.format(harness=harness))


def _read(path: Path) -> str:
    text = hookfile.read(path)
    return text or ""


def install(path: Path, harness: str, handlers: Mapping[str, Handler]) -> bool:
    text = _read(path)
    block = _block(harness, handlers)
    try:
        span = _span(text, harness)
    except SettingsError as exc:
        raise SettingsError(f"{path}: {exc}") from None
    if span is not None:
        new = text[: span[0]] + block + text[span[1] :]
    else:
        if _TOP_HOOKS.search(text):
            raise SettingsError(
                f"{path} already has a `hooks:` section; nothing was changed. "
                f"Add these lines under it by hand:\n{block}"
            )
        new = text + ("\n" if text and not text.endswith("\n") else "") + block
    if new == text:
        return False
    hookfile.write(path, new)
    return True


def uninstall(path: Path, harness: str) -> bool:
    text = _read(path)
    try:
        span = _span(text, harness)
    except SettingsError as exc:
        raise SettingsError(f"{path}: {exc}") from None
    if span is None:
        return False
    hookfile.write(path, text[: span[0]] + text[span[1] :])
    return True


def find(path: Path, harness: str) -> list[Found]:
    text = _read(path)
    span = _span(text, harness)
    if span is None:
        return []
    out, event = [], None
    for line in text[span[0] : span[1]].splitlines():
        if line.startswith("  ") and not line.startswith("   ") and line.rstrip().endswith(":"):
            event = line.strip()[:-1]
        elif line.strip().startswith("- command: ") and event:
            value = line.strip()[len("- command: ") :]
            out.append(Found(event, value[1:-1].replace("''", "'")))
    return out
