"""One marked block at the end of a text settings file (YAML, TOML).

tcfs ships no YAML or TOML editor, so it never edits the user's lines: it
appends its block between two marker comments and removes exactly that
block again (install then uninstall gives back the original bytes).
Install twice is a no-op; installing new content replaces the block.
"""

from __future__ import annotations

import re
from pathlib import Path

from tcfs.hooks import hookfile
from tcfs.hooks.hookfile import SettingsError

BEGIN = "# >>> tcfs hooks ({tag}): written by `tcfs hooks install`, removed by uninstall\n"
END = "# <<< tcfs hooks ({tag})\n"
#: in Markdown a ``#`` line is a heading: the markers are HTML comments there
MD_BEGIN = "<!-- >>> tcfs ({tag}): written by tcfs, removed by it -->\n"
MD_END = "<!-- <<< tcfs ({tag}) -->\n"


def _markers(path: Path, tag: str) -> tuple[str, str]:
    if path.suffix == ".md":
        return MD_BEGIN.format(tag=tag), MD_END.format(tag=tag)
    return BEGIN.format(tag=tag), END.format(tag=tag)


def _span(path: Path, text: str, tag: str) -> tuple[int, int] | None:
    begin, end_mark = _markers(path, tag)
    start = text.find(begin)
    if start < 0:
        return None
    end = text.find(end_mark, start)
    if end < 0:
        raise SettingsError(f"{path}: the tcfs block has lost its end marker; nothing was changed")
    return start, end + len(end_mark)


def body(path: Path, tag: str) -> str | None:
    """What the block holds between its markers, or None without a block."""
    text = hookfile.read(path) or ""
    span = _span(path, text, tag)
    if span is None:
        return None
    begin, end = _markers(path, tag)
    return text[span[0] + len(begin) : span[1] - len(end)]


def outside(path: Path, tag: str) -> str:
    """The file's text without the block: the user's own lines."""
    text = hookfile.read(path) or ""
    span = _span(path, text, tag)
    return text if span is None else text[: span[0]] + text[span[1] :]


def install(path: Path, tag: str, content: str, conflict: re.Pattern[str] | None = None) -> bool:
    """Put ``content`` in the block; ``conflict`` matching the user's own text
    (outside the block) refuses, showing the lines to add by hand."""
    text = hookfile.read(path) or ""
    begin, end = _markers(path, tag)
    block = begin + content + end
    span = _span(path, text, tag)
    if span is not None:
        new = text[: span[0]] + block + text[span[1] :]
    elif conflict is not None and conflict.search(text):
        raise SettingsError(
            f"{path} already has its own `{conflict.pattern.strip('^')}` section; nothing was "
            f"changed. Add these lines to it by hand:\n{block}"
        )
    else:
        new = text + ("\n" if text and not text.endswith("\n") else "") + block
    if new == text:
        return False
    hookfile.write(path, new)
    return True


def uninstall(path: Path, tag: str) -> bool:
    text = hookfile.read(path) or ""
    span = _span(path, text, tag)
    if span is None:
        return False
    hookfile.write(path, text[: span[0]] + text[span[1] :])
    return True
