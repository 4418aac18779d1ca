"""Events derived from the CLI's records read each record with its own
module's parser: a record that parser refuses is no event, for the reason the
parser gives, and a record it accepts says what the module says it says."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from tcfs.errors import CorruptObject
from tcfs.protocol import Project, keys, memory, messages, steps
from tcfs.protocol.events import cli_records
from tcfs.protocol.events.cli_records import CliRecords
from tcfs.store.base import Store

MESSAGE = "messages/alice/1700000000000000001_bob_0000aaaa.json"
HISTORY = keys.memory_history_prefix(("design", "db")) + "1700000000000000002_bob_0000aaab.json"

Derive = Callable[[str, dict[str, Any], str | None], object]
Parse = Callable[[str, dict[str, Any]], object]

#: a record each module's parser refuses, beside fields the old derivation
#: alone looked at (and found fine)
REFUSED: list[tuple[str, dict[str, Any], Derive, Parse]] = [
    (
        MESSAGE,
        {"from": 7, "to": "alice", "message": "hi"},
        cli_records.message_event,
        messages.parse_message,
    ),
    (
        HISTORY,
        {"key": "design.db", "set_by": "bob", "set_at": "2024-01-01T00:00:00+00:00"},
        cli_records.history_event,
        memory.parse_history_entry,
    ),
    (
        keys.claim_key("p"),
        {"agent": "bob", "claimed_at": "2024-01-01T00:00:00+00:00", "lease_ttl_s": "long"},
        cli_records.step_event,
        lambda key, doc: steps.parse_claim("p", doc, "etag"),
    ),
    (
        keys.status_key("p"),
        {"status": ["complete"], "agent": "bob"},
        cli_records.step_event,
        lambda key, doc: steps.parse_status("p", doc),
    ),
    (
        keys.handoff_key("p"),
        {"from_agent": "bob", "state": "complete", "note": {"text": "done"}},
        cli_records.step_event,
        lambda key, doc: steps.parse_handoff("p", doc),
    ),
]


def put(store: Store, key: str, doc: dict[str, Any]) -> None:
    store.put(key, json.dumps(doc).encode())


@pytest.mark.parametrize(
    ("key", "doc", "derive", "parse"),
    REFUSED,
    ids=["message", "history", "claim", "status", "handoff"],
)
def test_a_record_its_parser_refuses_is_no_event(
    atomic_store: Store, key: str, doc: dict[str, Any], derive: Derive, parse: Parse
) -> None:
    with pytest.raises(CorruptObject) as by_module:
        parse(key, doc)
    with pytest.raises(CorruptObject) as by_events:
        derive(key, doc, "etag")
    assert str(by_events.value) == str(by_module.value)
    put(atomic_store, key, doc)
    assert CliRecords(atomic_store).sweep(set()) == []


def test_a_message_event_names_the_sender_the_inbox_shows(atomic_store: Store) -> None:
    put(atomic_store, MESSAGE, {"to": "alice", "message": "no from field"})
    shown = Project(atomic_store, "alice").messages.read(keys.message_name(MESSAGE))
    (ev,) = CliRecords(atomic_store).sweep(set())
    assert shown.sender == "bob" and ev.agent == shown.sender
    assert ev.kind == "send" and ev.subject == "alice" and ev.detail["text"] == "no from field"
