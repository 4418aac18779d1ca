"""A plugin file tcfs owns whole, for a harness whose hooks are code it loads
from a directory (OpenCode's ``.opencode/plugins/``).

The file's first line is tcfs's marker: it names the harness and the mount,
so ``status`` reads them back and ``uninstall`` removes a file only when it
carries the marker.  A file of the same name without it belongs to the user
and is never overwritten or removed: install refuses it with a clear error.
Install writes the whole text (twice is a no-op; another mount rewrites it).
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import NamedTuple

from tcfs.hooks import hookfile
from tcfs.hooks.hookfile import SettingsError

#: how a line comment opens and closes, by the file's suffix (default: ``//``)
COMMENTS = {".md": ("<!-- ", " -->"), ".py": ("# ", ""), ".sh": ("# ", "")}
MARK = (
    "tcfs hooks install {harness} --mount {mount} wrote this file; "
    "`tcfs hooks uninstall {harness}` removes it"
)
_MARK = re.compile(r"tcfs hooks install (\S+) --mount (.+) wrote this file; ")


class Owner(NamedTuple):
    harness: str
    mount: str


def marker(path: Path, harness: str, mountpoint: str) -> str:
    """The first line of the file tcfs writes at ``path``."""
    open_, close = COMMENTS.get(path.suffix, ("// ", ""))
    return open_ + MARK.format(harness=harness, mount=shlex.quote(mountpoint)) + close + "\n"


def owner(text: str) -> Owner | None:
    """Who wrote a file, from its first line: None when it is not tcfs's."""
    found = _MARK.search(text.split("\n", 1)[0])
    if found is None:
        return None
    try:
        words = shlex.split(found.group(2))
    except ValueError:
        return None
    return Owner(found.group(1), words[0]) if len(words) == 1 else None


def _foreign(text: str, harness: str) -> bool:
    mine = owner(text)
    return mine is None or mine.harness != harness


def install(path: Path, harness: str, mountpoint: str, body: str) -> bool:
    """Write the marker and ``body`` to ``path``; False when it was already so."""
    text = marker(path, harness, mountpoint) + body
    original = hookfile.read(path)
    if original is not None and _foreign(original, harness):
        raise SettingsError(
            f"{path} is not tcfs's (its first line has no tcfs marker for {harness}); "
            "move it away to install tcfs's plugin there; nothing was changed"
        )
    if original == text:
        return False
    hookfile.write(path, text)
    return True


def uninstall(path: Path, harness: str) -> bool:
    """Remove ``path`` if tcfs wrote it; False when there is none (a file of
    the user's own there is left as it is)."""
    original = hookfile.read(path)
    if original is None or _foreign(original, harness):
        return False
    path.unlink()
    return True


def find(path: Path, harness: str) -> str | None:
    """The mount tcfs's plugin at ``path`` reads, or None without one
    (``SettingsError`` when a file of the user's own has its name)."""
    text = hookfile.read(path)
    if text is None:
        return None
    mine = owner(text)
    if mine is None or mine.harness != harness:
        raise SettingsError(
            f"{path} is not tcfs's; `tcfs hooks install` will not overwrite it: nothing was changed"
        )
    return mine.mount
