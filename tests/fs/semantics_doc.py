"""The README's Semantics section is generated from ``tcfs/fs/SEMANTICS.md``.

``python -m tests.fs.semantics_doc`` (``make docs``) rewrites the section;
``test_semantics_doc.py`` fails when the two differ.  The section is the
document without its title, one heading level down.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SOURCE = ROOT / "tcfs" / "fs" / "SEMANTICS.md"
README = ROOT / "README.md"
HEADING = "## Semantics\n"
NEXT = "## Leases and fencing\n"
NOTE = "(Generated from `tcfs/fs/SEMANTICS.md` by `make docs`: edit that file.)"


def section(source: str) -> str:
    body = source.split("\n", 1)[1].lstrip("\n")  # without the title line
    body = re.sub(r"^(#+) ", r"#\1 ", body, flags=re.MULTILINE)
    return f"{HEADING}\n{NOTE}\n\n{body.rstrip()}\n\n"


def current(readme: str) -> str:
    start = readme.index(HEADING)
    return readme[start : readme.index(NEXT, start)]


def render(readme: str, source: str) -> str:
    return readme.replace(current(readme), section(source), 1)


def main() -> int:
    readme = README.read_text()
    updated = render(readme, SOURCE.read_text())
    if updated != readme:
        README.write_text(updated)
        print("README.md: Semantics section regenerated")
    return 0


if __name__ == "__main__":
    sys.exit(main())
