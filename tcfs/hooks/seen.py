"""Which steps were complete at an agent's last session start, so the next one
can say what was completed since.  A private file per project and agent under
``$TCFS_HOME/hooks/``; losing it only makes the next summary longer."""

from __future__ import annotations

import json
from pathlib import Path

MAX_LISTED = 10


def _path(project: str, agent: str) -> Path:
    from tcfs.config import tcfs_home

    return tcfs_home() / "hooks" / f"{project}@{agent}.json"


def completed_since(project: str, agent: str, complete: list[str]) -> list[str]:
    """The steps complete now that were not at the last call; records ``complete``."""
    from tcfs.config import write_private

    path = _path(project, agent)
    try:
        before = set(json.loads(path.read_text())["complete"])
    except (OSError, ValueError, KeyError, TypeError):
        before = set()
    new = [s for s in complete if s not in before]
    if set(complete) != before:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        write_private(path, json.dumps({"complete": sorted(complete)}).encode())
    if len(new) > MAX_LISTED:
        return [*new[:MAX_LISTED], f"and {len(new) - MAX_LISTED} more"]
    return new
