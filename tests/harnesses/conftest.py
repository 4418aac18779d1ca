"""The conformance suite runs only when asked (``make test-harnesses``): it
installs the real harness programs, which ``make test`` must not need."""

from __future__ import annotations

import os

import pytest

ENABLE = "TCFS_HARNESS_SUITE"

collect_ignore = [] if os.environ.get(ENABLE) else ["test_conformance.py"]

# One row per harness, filled by the conformance tests, printed at the end.
ROWS: list[dict[str, str]] = []
COLUMNS = ("harness", "version", "sessions", "children", "lines", "named", "auto", "follow", "s")


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not ROWS:
        return
    widths = {c: max(len(c), *(len(r.get(c, "")) for r in ROWS)) for c in COLUMNS}
    terminalreporter.section("real harnesses")
    terminalreporter.write_line("  ".join(c.ljust(widths[c]) for c in COLUMNS))
    for row in ROWS:
        terminalreporter.write_line("  ".join(row.get(c, "").ljust(widths[c]) for c in COLUMNS))
