"""The bucket layout, shared with the ``tracecraft`` CLI (tracecraft-ai 0.2.5).

Every key tcfs reads or writes is built or parsed here, so a layout change is a
one-file change.  Keys are project-relative.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Sequence

from tcfs.errors import InvalidArgument

AGENTS_ROOT = "agents/"
STEPS_ROOT = "steps/"
MEMORY_ROOT = "memory/"
MESSAGES_ROOT = "messages/"
ARTIFACTS_ROOT = "artifacts/"
UPLOADS_ROOT = "_tcfs_uploads/"
SESSIONS_ROOT = "sessions/"
#: file reservations: one index object, compare-and-swapped (tcfs only)
RESERVATIONS_INDEX = "reservations/_index.json"
RECORD_SUFFIX = ".json"

BROADCAST = "_broadcast"
CURSOR_LEAF = "_cursor.json"
HIDDEN_LEAF = "_tcfs_hidden.json"  # broadcasts this agent removed from its inbox
HISTORY_ROOT = "memory/_history/"
# Doorbells (tcfs only, see doorbells.py): `_` leaves the CLI never reads as mail.
BELL_LEAF = "_tcfs_bell.json"
WAITERS_ROOT = "messages/_tcfs_waiters/"


def agent_key(agent: str) -> str:
    return f"{AGENTS_ROOT}{agent}{RECORD_SUFFIX}"


def agent_of(key: str) -> str | None:
    """The agent id an ``agents/`` key names, or None for anything else."""
    if not key.startswith(AGENTS_ROOT) or not key.endswith(RECORD_SUFFIX):
        return None
    return key[len(AGENTS_ROOT) : -len(RECORD_SUFFIX)]


def step_prefix(step: str) -> str:
    return f"{STEPS_ROOT}{step}/"


def step_record_key(step: str, record: str) -> str:
    """``steps/<step>/<record>.json``: ``claim``, ``status``, ``handoff``, ..."""
    return f"{step_prefix(step)}{record}{RECORD_SUFFIX}"


def claim_key(step: str) -> str:
    return step_record_key(step, "claim")


def status_key(step: str) -> str:
    return step_record_key(step, "status")


def handoff_key(step: str) -> str:
    return step_record_key(step, "handoff")


def step_record_of(key: str) -> tuple[str, str] | None:
    """``(step, record)`` for a key ``steps/<step>/<record>.json``, else None."""
    parts = key.split("/")
    if len(parts) != 3 or f"{parts[0]}/" != STEPS_ROOT or not parts[2].endswith(RECORD_SUFFIX):
        return None
    return parts[1], parts[2][: -len(RECORD_SUFFIX)]


def child_name(prefix: str, common_prefix: str) -> str:
    """The name of a ``CommonPrefix`` entry directly under ``prefix``."""
    return common_prefix[len(prefix) :].rstrip("/")


def memory_dir_prefix(parts: Sequence[str]) -> str:
    return MEMORY_ROOT + "".join(p + "/" for p in parts)


def memory_key(parts: Sequence[str]) -> str:
    return MEMORY_ROOT + "/".join(parts) + RECORD_SUFFIX


def memory_history_prefix(parts: Sequence[str]) -> str:
    return HISTORY_ROOT + "/".join(parts) + "/"


def mailbox_prefix(recipient: str) -> str:
    return f"{MESSAGES_ROOT}{recipient}/"


def message_key(mailbox: str, name: str) -> str:
    """The key of message ``name`` (``<ns>_<from>_<id8>``) in a mailbox prefix."""
    return f"{mailbox}{name}{RECORD_SUFFIX}"


def message_name(key: str) -> str:
    """The name a message key is shown under (its leaf without ``.json``)."""
    return key.rsplit("/", 1)[1].removesuffix(RECORD_SUFFIX)


def parent_prefix(key: str) -> str:
    """The prefix a key sits directly under (``messages/bob/``)."""
    return key.rsplit("/", 1)[0] + "/"


def cursor_key(agent: str) -> str:
    return mailbox_prefix(agent) + CURSOR_LEAF


def hidden_key(agent: str) -> str:
    return mailbox_prefix(agent) + HIDDEN_LEAF


def artifact_scope_prefix(scope: str) -> str:
    return f"{ARTIFACTS_ROOT}{scope}/"


def bell_key(mailbox: str) -> str:
    """The doorbell of an agent's mailbox, or of the broadcasts (``_broadcast``)."""
    return f"messages/{mailbox}/{BELL_LEAF}"


def waiters_prefix(step: str) -> str:
    """Agents blocked in ``wait`` on ``step``; a final status rings their bells."""
    return f"{WAITERS_ROOT}{step}/"


def waiter_key(step: str, agent: str) -> str:
    return f"{waiters_prefix(step)}{agent}.json"


def uploads_prefix(agent: str) -> str:
    """Where an agent's daemon records the multipart uploads it has under way
    (a ``_`` root the CLI ignores), so its next mount aborts those a kill left."""
    return f"{UPLOADS_ROOT}{agent}/"


def artifact_key(scope: str, name: str) -> str:
    return artifact_scope_prefix(scope) + name


def harness_prefix(harness: str) -> str:
    return f"{SESSIONS_ROOT}{harness}/"


def session_prefix(harness: str, session_id: str) -> str:
    return f"{harness_prefix(harness)}{session_id}/"


# ---------- mirrored sessions ----------

META_LEAF = "meta.json"
PART_RE = re.compile(r"part-(\d{5})-[a-f0-9]{8}\.jsonl$")
MAX_SEQ = 99_999  # five digits, as the CLI's pattern requires


def part_key(harness: str, session_id: str, seq: int, uid: str | None = None) -> str:
    if not 0 <= seq <= MAX_SEQ:
        raise InvalidArgument(f"part seq {seq} does not fit the five-digit part name")
    uid = uid or uuid.uuid4().hex[:8]
    if not re.fullmatch(r"[a-f0-9]{8}", uid):
        raise InvalidArgument(f"part uuid {uid!r} is not 8 lowercase hex digits")
    return f"{session_prefix(harness, session_id)}part-{seq:05d}-{uid}.jsonl"


def meta_key(harness: str, session_id: str) -> str:
    return session_prefix(harness, session_id) + META_LEAF


def parse_part_seq(key: str) -> int | None:
    """The seq of a part key (any prefix), or None for anything else."""
    m = PART_RE.fullmatch(key.rsplit("/", 1)[-1])
    return int(m.group(1)) if m else None


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


# ---------- the event log (tcfs only; the CLI never reads it) ----------
# One object per writer flush: events/<ns>_<agent>_<uuid8>.json, a batch of
# that agent's events.  A flat prefix keeps keys in time order, so a reader
# follows the log with one LIST that starts after the newest key it has seen.

EVENTS_ROOT = "events/"


def event_batch_key(agent: str, ns: int | None = None) -> str:
    return append_key(EVENTS_ROOT, agent, ns)


def event_watermark(ns: int) -> str:
    """A key that sorts just before every batch written at or after ``ns``."""
    return f"{EVENTS_ROOT}{max(0, ns):019d}"
