"""Reading the mount, and only the mount: a hook holds no credentials and
never talks to the bucket itself.

``inbox/unread`` (never listed) gives the agent, the project and the unread
messages without consuming them; writing names to ``inbox/ack`` marks exactly
those read, on the cursor ``inbox/next`` and ``tracecraft inbox --new`` share.
Steps come from ``ls steps/`` and each step's ``status`` and ``claim``; file
reservations from ``reservations/check`` (never listed).
Every call may block on a hung daemon: callers run them under ``bounded``.
"""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path
from typing import NamedTuple

STEP_READERS = 8  # parallel reads of steps/<id>/status at session start
MAX_STEPS = 200  # a session-start summary looks at no more steps than this


class MountError(Exception):
    """The mount cannot answer; the message is one line for the user."""


class Inbox(NamedTuple):
    agent: str
    project: str
    messages: list[dict[str, object]]


class Step(NamedTuple):
    id: str
    status: str
    holder: str | None


def _explain(mount: Path, what: str, exc: OSError) -> MountError:
    if exc.errno == errno.ENOTCONN:
        return MountError(
            f"tcfs: the daemon of {mount} is gone; run `tcfs umount {mount}` and mount again"
        )
    if exc.errno == errno.ENOENT and not os.path.ismount(mount):
        return MountError(f"tcfs: {mount} is not mounted; messages cannot be checked")
    reason = exc.strerror or type(exc).__name__
    return MountError(f"tcfs: {mount}/{what}: {reason} (is the bucket reachable?)")


def _read_list(
    mount: Path, what: str, field: str
) -> tuple[dict[str, object], list[dict[str, object]]]:
    """The JSON document at ``mount/what`` and the objects of its list ``field``."""
    try:
        raw = (mount / what).read_bytes()
    except OSError as exc:
        raise _explain(mount, what, exc) from None
    try:
        doc = json.loads(raw)
        items = doc[field]
        assert isinstance(doc, dict) and isinstance(items, list)
        return doc, [i for i in items if isinstance(i, dict)]
    except (ValueError, KeyError, TypeError, AssertionError):
        raise MountError(f"tcfs: {mount}/{what} is not what tcfs writes") from None


def read_inbox(mount: Path) -> Inbox:
    doc, msgs = _read_list(mount, "inbox/unread", "unread")
    return Inbox(str(doc.get("agent")), str(doc.get("project")), msgs)


class Reservations(NamedTuple):
    agent: str  # this mount's agent
    live: list[dict[str, object]]  # every agent's: name, agent, globs, epoch


def read_reservations(mount: Path) -> Reservations:
    """Every live file reservation of the project (``reservations/check``)."""
    doc, live = _read_list(mount, "reservations/check", "reservations")
    return Reservations(str(doc.get("agent")), live)


def ack(mount: Path, names: list[str]) -> None:
    try:
        with open(mount / "inbox" / "ack", "w", encoding="utf-8") as f:
            f.write("".join(n + "\n" for n in names))
    except OSError as exc:
        raise _explain(mount, "inbox/ack", exc) from None


def _step(mount: Path, step: str) -> Step | None:
    d = mount / "steps" / step
    try:
        status = (d / "status").read_text().strip()
        holder = None
        if status != "pending":
            first = (d / "claim").read_text().split("\n", 1)[0]
            holder = first.removeprefix("agent: ") if first.startswith("agent: ") else None
    except OSError:
        return None  # released or removed since the listing
    return Step(step, status, holder)


def steps(mount: Path) -> list[Step]:
    """Every step's status and holder, read in parallel."""
    from concurrent.futures import ThreadPoolExecutor

    try:
        ids = sorted(os.listdir(mount / "steps"))[:MAX_STEPS]
    except OSError as exc:
        raise _explain(mount, "steps", exc) from None
    pool = ThreadPoolExecutor(STEP_READERS)
    try:
        found = list(pool.map(lambda s: _step(mount, s), ids))
    finally:
        pool.shutdown(wait=False)
    return [s for s in found if s is not None]
