"""The hook settings file shared by Claude Code, Codex and Gemini CLI.

All three read ``{"hooks": {EVENT: [{"matcher"?, "hooks": [HANDLER, ...]}, ...]}}``
where a handler is ``{"type": "command", "command": ..., "timeout": ...}``;
tcfs's edit handler goes in a group of its own whose ``matcher`` names the
file-editing tools.
tcfs's handlers are the ones whose command runs tcfs's hook entry point for
the harness (``marker``);
every other byte of the file belongs to the user and is never changed.
Install merges (twice is a no-op), uninstall removes only tcfs's handlers and
the containers that held nothing else, and a file that is not valid JSON, or
whose ``hooks`` are not of that shape, is refused and left as it was.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from tcfs.errors import TcfsError
from tcfs.hooks import jsonedit
from tcfs.hooks.jsonedit import Node

Handler = Mapping[str, object]
#: a handler's key naming its group's ``matcher`` (never written into the handler)
MATCHER = "_matcher"


class SettingsError(TcfsError):
    """A settings file tcfs will not edit; it was left as it was."""


@dataclass(frozen=True)
class Found:
    event: str
    command: str


def marker(harness: str) -> re.Pattern[str]:
    """What every tcfs hook command for ``harness`` contains: the entry point
    (``-m tcfs.hooks``, ``.../tcfs/hooks/__main__.py`` or ``tcfs hook``), then
    the harness."""
    return re.compile(rf"(?:tcfs\.hooks|tcfs/hooks/__main__\.py'?|tcfs hook) {re.escape(harness)} ")


def read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise SettingsError(f"{path}: cannot read it ({exc}); nothing was changed") from None


def _parse(path: Path, text: str) -> Node:
    try:
        root = jsonedit.parse(text)
    except jsonedit.MalformedJSON as exc:
        raise SettingsError(
            f"{path} is not valid JSON ({exc}); fix or move it, nothing was changed"
        ) from None
    if not root.is_object:
        raise SettingsError(f"{path}: the top level is not a JSON object; nothing was changed")
    hooks = root.get("hooks")
    if hooks is not None and not hooks.is_object:
        raise SettingsError(f'{path}: "hooks" is not an object; nothing was changed')
    for item in hooks.items if hooks else []:
        if not item.node.is_array:
            raise SettingsError(f'{path}: "hooks.{item.key}" is not a list; nothing was changed')
    return root


def _ours(group: Node, mark: re.Pattern[str]) -> list[int]:
    """Indexes of tcfs's handlers in one matcher group."""
    handlers = group.get("hooks") if group.is_object else None
    if handlers is None or not handlers.is_array:
        return []
    return [
        i
        for i, h in enumerate(handlers.items)
        if isinstance(h.node.value, dict)
        and isinstance(h.node.value.get("command"), str)
        and mark.search(h.node.value["command"]) is not None
    ]


def find(path: Path, harness: str) -> list[Found]:
    """tcfs's handlers in the file, by event (empty when there is no file)."""
    text = read(path)
    return [] if text is None else _found(path, text, harness)


class Place(NamedTuple):
    """Where one tcfs handler is: its event, its group's index, its index in the group."""

    event: str
    group: int
    position: int
    handler: dict[str, object]


def places(path: Path, text: str, harness: str) -> list[Place]:
    hooks = _parse(path, text).get("hooks")
    out = []
    for event in hooks.items if hooks else []:
        for g, group in enumerate(event.node.items):
            handlers = group.node.get("hooks")
            for i in _ours(group.node, marker(harness)):
                assert handlers is not None
                value = handlers.items[i].node.value
                assert isinstance(value, dict)
                out.append(Place(str(event.key), g, i, value))
    return out


def _found(path: Path, text: str, harness: str) -> list[Found]:
    return [Found(p.event, str(p.handler["command"])) for p in places(path, text, harness)]


def _remove_first(
    text: str, root: Node, mark: re.Pattern[str], event: str | None = None
) -> str | None:
    """``text`` without one tcfs handler (of ``event``, or any), or None if it has none.

    The innermost container left empty goes with it: the handler's group, the
    event's list, the ``hooks`` object, so install + uninstall restores the file.
    """
    hooks = root.get("hooks")
    if hooks is None:
        return None
    for ei, ev in enumerate(hooks.items):
        if event is not None and ev.key != event:
            continue
        for gi, group in enumerate(ev.node.items):
            mine = _ours(group.node, mark)
            if not mine:
                continue
            handlers = group.node.get("hooks")
            assert handlers is not None
            if len(handlers.items) > 1:
                return jsonedit.remove(text, handlers, mine[0])
            if len(ev.node.items) > 1:
                return jsonedit.remove(text, ev.node, gi)
            if len(hooks.items) > 1:
                return jsonedit.remove(text, hooks, ei)
            return jsonedit.remove(text, root, root.items.index(_member(root, "hooks")))
    return None


def _member(root: Node, key: str) -> jsonedit.Item:
    return [i for i in root.items if i.key == key][-1]


def matching(handler: Handler, matcher: str | None) -> Handler:
    """``handler``, to be installed in a group with this tool-name ``matcher``."""
    return handler if matcher is None else {**handler, MATCHER: matcher}


def _add(text: str, root: Node, event: str, handler: Handler) -> str:
    group: dict[str, object] = {"hooks": [{k: v for k, v in handler.items() if k != MATCHER}]}
    if MATCHER in handler:
        group = {"matcher": handler[MATCHER], **group}
    hooks = root.get("hooks")
    if hooks is None:
        return jsonedit.append(text, root, {event: [group]}, key="hooks")
    events = hooks.get(event)
    if events is None:
        return jsonedit.append(text, hooks, [group], key=event)
    return jsonedit.append(text, events, group)


def _strip(path: Path, text: str, mark: re.Pattern[str], event: str | None = None) -> str:
    """``text`` without any tcfs handler (of ``event``, or of every event)."""
    while (smaller := _remove_first(text, _parse(path, text), mark, event)) is not None:
        text = smaller
    return text


def _save(path: Path, original: str | None, text: str) -> bool:
    if text == original:
        return False
    write(path, text)
    return True


def install(path: Path, harness: str, handlers: Mapping[str, Handler]) -> bool:
    """Merge one handler per event into ``path``; False when it was already there."""
    original = read(path)
    text = original if original is not None and original.strip() else "{}\n"
    mark = marker(harness)
    for event, handler in handlers.items():
        have = [f.command for f in _found(path, text, harness) if f.event == event]
        if have != [handler["command"]]:
            text = _strip(path, text, mark, event)  # an older one (another mount) is replaced
            text = _add(text, _parse(path, text), event, handler)
    for stale in {f.event for f in _found(path, text, harness)} - set(handlers):
        text = _strip(path, text, mark, stale)
    return _save(path, original, text)


def uninstall(path: Path, harness: str) -> bool:
    """Remove tcfs's handlers from ``path``; False when it had none."""
    original = read(path)
    if original is None:
        return False
    return _save(path, original, _strip(path, original, marker(harness)))


#: while an install runs: the files and folders it creates, in order
_created: list[Path] | None = None


@contextlib.contextmanager
def recording() -> Iterator[list[Path]]:
    """Note every file and folder ``write`` creates meanwhile (what an
    uninstall must remove again once it holds nothing of the user's)."""
    global _created
    made: list[Path] = []
    _created = made
    try:
        yield made
    finally:
        _created = None


def write(path: Path, text: str) -> None:
    """Replace ``path`` atomically, keeping its mode (a new file is 0600)."""
    if _created is not None:
        missing = [d for d in (path.parent, *path.parent.parents) if not d.exists()]
        _created.extend(reversed(missing))
        if not path.exists():
            _created.append(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        mode = path.stat().st_mode & 0o7777
    except FileNotFoundError:
        mode = 0o600
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
