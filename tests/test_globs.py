"""Reservation globs: what a glob covers, and the overlap check, which must
never call two globs disjoint when some path matches both."""

from __future__ import annotations

import itertools
import random

import pytest

from tcfs import globs
from tcfs.errors import InvalidArgument

COVERS = [
    ("src/api/**", "src/api/user.py", True),
    ("src/api/**", "src/api/v1/user.py", True),
    ("src/api/**", "src/apis/user.py", False),
    ("src/api", "src/api/v1/user.py", True),  # a directory covers what is below it
    ("src/api", "src/api", True),
    ("src/api", "src", False),
    ("*.md", "README.md", True),
    ("*.md", "docs/x.md", False),
    ("**/*.md", "docs/x.md", True),
    ("**/*.md", "README.md", True),
    ("src/*/models.py", "src/a/models.py", True),
    ("src/*/models.py", "src/a/b/models.py", False),
    ("src/[ab]?.py", "src/ax.py", True),
    ("src/[ab]?.py", "src/cx.py", False),
    ("**", "anything/at/all", True),
    ("src/*.py", "src/a.py/b", False),  # a pattern covers what it matches, not below
]


@pytest.mark.parametrize(("glob", "path", "covered"), COVERS)
def test_matches(glob: str, path: str, covered: bool) -> None:
    assert globs.matches(glob, path) is covered


OVERLAPS = [
    ("src/api/**", "src/api/user.py", True),
    ("src/api/**", "src/**", True),
    ("src/api/**", "src/web/**", False),
    ("src/api", "src", True),  # src covers src/api
    ("*.py", "*.md", False),
    ("*.py", "a*", True),  # a.py
    ("a*", "b*", False),
    ("**/test_*.py", "tests/test_x.py", True),
    ("**/test_*.py", "src/**/*.md", False),
    ("docs/*.md", "**/*.md", True),
    ("docs/*.md", "docs/*.py", False),
    ("x/[ab].py", "x/c.py", False),
    ("x/[ab].py", "x/?.py", True),
    ("**", "a", True),
    ("a/b/c", "a/b/d", False),
]


@pytest.mark.parametrize(("a", "b", "expected"), OVERLAPS)
def test_overlap(a: str, b: str, expected: bool) -> None:
    assert globs.overlap(a, b) is expected
    assert globs.overlap(b, a) is expected


def test_overlap_is_never_wrongly_disjoint() -> None:
    """Over a small alphabet, every glob pair that matches one path overlaps."""
    rng = random.Random(7)
    segments = ["a", "b", "ab", "*", "a*", "*b", "?", "[ab]", "a?", "**"]
    patterns = ["/".join(rng.choices(segments, k=rng.randint(1, 3))) for _ in range(150)]
    names = ["a", "b", "ab", "ba", "aa", "abb"]
    paths = ["/".join(p) for k in (1, 2, 3, 4) for p in itertools.product(names, repeat=k)]
    covered = {p: {q for q in paths if globs.matches(p, q)} for p in patterns}
    for a, b in itertools.combinations(patterns, 2):
        if covered[a] & covered[b]:
            assert globs.overlap(a, b), (a, b, sorted(covered[a] & covered[b])[:3])


def test_parse() -> None:
    text = "# the api\n./src/api/**\n\n/docs/\nsrc/api/**\n"
    assert globs.parse(text) == ["src/api/**", "docs"]
    for bad in ("", "# only a comment\n", "../x", "src/../../etc", "/"):
        with pytest.raises(InvalidArgument):
            globs.parse(bad)
