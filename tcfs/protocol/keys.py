"""The bucket layout, shared with the ``tracecraft`` CLI (tracecraft-ai 0.2.5).

Every key tcfs reads or writes is built or parsed here, so a layout change is a
one-file change.  Keys are project-relative.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence

BROADCAST = "_broadcast"
CURSOR_LEAF = "_cursor.json"
HIDDEN_LEAF = "_tcfs_hidden.json"  # broadcasts this agent removed from its inbox
HISTORY_ROOT = "memory/_history/"
# Doorbells (tcfs only, DESIGN §8): `_` leaves the CLI never reads as mail.
BELL_LEAF = "_tcfs_bell.json"
WAITERS_ROOT = "messages/_tcfs_waiters/"


def agent_key(agent: str) -> str:
    return f"agents/{agent}.json"


def claim_key(step: str) -> str:
    return f"steps/{step}/claim.json"


def status_key(step: str) -> str:
    return f"steps/{step}/status.json"


def handoff_key(step: str) -> str:
    return f"steps/{step}/handoff.json"


def memory_key(parts: Sequence[str]) -> str:
    return "memory/" + "/".join(parts) + ".json"


def memory_history_prefix(parts: Sequence[str]) -> str:
    return HISTORY_ROOT + "/".join(parts) + "/"


def mailbox_prefix(recipient: str) -> str:
    return f"messages/{recipient}/"


def cursor_key(agent: str) -> str:
    return f"messages/{agent}/{CURSOR_LEAF}"


def hidden_key(agent: str) -> str:
    return f"messages/{agent}/{HIDDEN_LEAF}"


def bell_key(mailbox: str) -> str:
    """The doorbell of an agent's mailbox, or of the broadcasts (``_broadcast``)."""
    return f"messages/{mailbox}/{BELL_LEAF}"


def waiters_prefix(step: str) -> str:
    """Agents blocked in ``wait`` on ``step``; a final status rings their bells."""
    return f"{WAITERS_ROOT}{step}/"


def waiter_key(step: str, agent: str) -> str:
    return f"{waiters_prefix(step)}{agent}.json"


def artifact_key(scope: str, name: str) -> str:
    return f"artifacts/{scope}/{name}"


def session_prefix(harness: str, session_id: str) -> str:
    return f"sessions/{harness}/{session_id}/"


# ---------- append keys: <prefix><ns>_<agent>_<uuid8>.json ----------
# time.time_ns() has 19 digits until 2286, so keys sort by time; the uuid8
# suffix makes keys unique even when one writer fires twice in a nanosecond.


def append_key(prefix: str, agent: str, ns: int | None = None) -> str:
    return f"{prefix}{time.time_ns() if ns is None else ns}_{agent}_{uuid.uuid4().hex[:8]}.json"


def is_data_leaf(leaf: str) -> bool:
    """A data object directly under a prefix: not bookkeeping (``_*``), not nested."""
    return bool(leaf) and "/" not in leaf and not leaf.startswith("_")


def leaf_of(key: str, prefix: str) -> str:
    return key[len(prefix) :]


def key_ts_ns(key: str, prefix: str) -> int | None:
    head = leaf_of(key, prefix).split("_", 1)[0]
    return int(head) if head.isdigit() else None


def key_sender(key: str, prefix: str) -> str | None:
    """The writer id embedded in an append key, or None if it does not conform."""
    leaf = leaf_of(key, prefix)
    if not leaf.endswith(".json"):
        return None
    parts = leaf[: -len(".json")].split("_")
    if len(parts) < 3 or not parts[0].isdigit():
        return None
    return "_".join(parts[1:-1])
