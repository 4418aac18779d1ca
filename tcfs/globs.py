"""Path globs of file reservations: matching a path, and whether two may overlap.

A glob is a path relative to a git repository's root, ``/``-separated, whose
segments are ``fnmatch`` patterns (``*``, ``?``, ``[..]`` within one segment)
or ``**`` (any number of segments).  A glob whose last segment is a plain
name also covers everything below it: ``src/api`` reserves
``src/api/v1/user.py``, as if it ended in ``/**``; ``src/*.py`` covers only
the files it matches.

Two globs overlap when some path could match both.  ``overlap`` never says
no for globs that do: a segment pair counts as disjoint only when their
literal prefixes or suffixes prove it (``a*`` and ``b*``, ``*.py`` and
``*.md``); anything it cannot rule out is an overlap.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Iterable, Sequence
from functools import cache

from tcfs.errors import InvalidArgument

ANY = "**"
_MAGIC = "*?["
#: a glob longer than this is refused (it is one line of a small file)
MAX_GLOB = 1024
#: and a reservation holds at most this many
MAX_GLOBS = 256


def normalise(glob: str) -> str:
    """One glob in its canonical form: no leading ``./`` or ``/``, no empty or
    ``.`` segments, no trailing ``/``; ``InvalidArgument`` for one that climbs
    out of the repository (``..``) or is empty."""
    text = glob.strip()
    if len(text) > MAX_GLOB:
        raise InvalidArgument(f"a glob is limited to {MAX_GLOB} characters")
    parts = [p for p in text.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise InvalidArgument(f"glob {glob!r}: '..' is not allowed (paths are below the git root)")
    if not parts:
        raise InvalidArgument(f"glob {glob!r} names no path (reserve the whole tree with '**')")
    return "/".join(parts)


def parse(text: str) -> list[str]:
    """The globs of a reservation's text: one a line; blank lines and ``#``
    comments ignored; duplicates dropped.  ``InvalidArgument`` if none."""
    out: list[str] = []
    for line in text.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            glob = normalise(line)
            if glob not in out:
                out.append(glob)
    if not out:
        raise InvalidArgument("write one path glob a line (e.g. src/api/**)")
    if len(out) > MAX_GLOBS:
        raise InvalidArgument(f"a reservation holds at most {MAX_GLOBS} globs")
    return out


def _segments(glob: str) -> tuple[str, ...]:
    parts = tuple(glob.split("/"))
    if any(c in parts[-1] for c in _MAGIC):
        return parts
    return (*parts, ANY)  # a path named whole covers what is below it


def _literal_ends(pattern: str) -> tuple[str, str]:
    """The literal text a segment pattern must start and end with.  Any
    bracket counts as magic, so both are at most the true literal ends."""
    first = min((i for i, c in enumerate(pattern) if c in _MAGIC), default=len(pattern))
    last = max((i for i, c in enumerate(pattern) if c in "*?[]"), default=-1)
    return pattern[:first], pattern[last + 1 :]


def _segments_may_meet(a: str, b: str) -> bool:
    """Whether one path segment could match both patterns (conservative)."""
    a_magic, b_magic = any(c in a for c in _MAGIC), any(c in b for c in _MAGIC)
    if not a_magic and not b_magic:
        return a == b
    if not a_magic:
        return fnmatch.fnmatchcase(a, b)
    if not b_magic:
        return fnmatch.fnmatchcase(b, a)
    (a_start, a_end), (b_start, b_end) = _literal_ends(a), _literal_ends(b)
    starts = a_start.startswith(b_start) or b_start.startswith(a_start)
    ends = a_end.endswith(b_end) or b_end.endswith(a_end)
    return starts and ends


def _sequences_meet(
    a: Sequence[str], b: Sequence[str], segment: Callable[[str, str], bool]
) -> bool:
    """Whether two segment sequences (``**`` allowed in either) can match one
    path, given whether two single segments can."""

    @cache
    def meet(i: int, j: int) -> bool:
        if i == len(a) or j == len(b):  # what is left must be able to match nothing
            return all(s == ANY for s in a[i:]) and all(s == ANY for s in b[j:])
        if a[i] == ANY:
            return meet(i + 1, j) or meet(i, j + 1)
        if b[j] == ANY:
            return meet(i, j + 1) or meet(i + 1, j)
        return segment(a[i], b[j]) and meet(i + 1, j + 1)

    return meet(0, 0)


def overlap(a: str, b: str) -> bool:
    """Whether some path could match both globs (never False when one does)."""
    return _sequences_meet(_segments(a), _segments(b), _segments_may_meet)


def matches(glob: str, path: str) -> bool:
    """Whether ``path`` (relative to the git root) is covered by ``glob``."""
    parts = tuple(p for p in path.split("/") if p not in ("", "."))
    return bool(parts) and _sequences_meet(
        _segments(glob), parts, lambda g, p: g == p or fnmatch.fnmatchcase(p, g)
    )


def first_overlap(mine: Iterable[str], theirs: Iterable[str]) -> tuple[str, str] | None:
    """The first pair of globs, one from each side, that overlap."""
    theirs = list(theirs)
    return next(((a, b) for a in mine for b in theirs if overlap(a, b)), None)
