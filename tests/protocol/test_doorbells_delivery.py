"""A rung bell leads straight to the message: the bell names it, the reader's
look fetches it beside the cursor and the listings, and the cursor's rules
(oldest first, each message once, the CLI's cursor shared) still hold."""

from __future__ import annotations

import json
from typing import Any

from tcfs.protocol import Project, keys, records
from tcfs.protocol.doorbells import BellWatch, Doorbells
from tcfs.store.s3 import S3Store
from tests.support.loopback_proxy import LoopbackProxy


def test_a_ring_names_the_newest_message(store) -> None:  # type: ignore[no-untyped-def]
    bob = Project(store, "bob")
    watch = BellWatch(store)
    try:
        assert watch.rang("alice") and watch.newest("alice") is None
        first = bob.messages.send("alice", "one")
        assert bob.bells.flush()
        assert watch.rang("alice")
        assert watch.newest("alice") == first.key
        assert json.loads(store.get(keys.bell_key("alice")).body)["newest"] == first.key
    finally:
        bob.close()


def test_a_coalesced_ring_names_the_latest(store) -> None:  # type: ignore[no-untyped-def]
    bells = Doorbells(store, "bob", spacing=30.0)
    watch = BellWatch(store)
    try:
        bells.ring("alice", newest="messages/alice/1_bob_00000001.json")
        assert bells.flush()
        for i in range(2, 6):  # within the spacing: queued, then coalesced
            bells.ring("alice", newest=f"messages/alice/{i}_bob_0000000{i}.json")
        assert watch.rang("alice")
        assert watch.newest("alice") == "messages/alice/1_bob_00000001.json"
        bells.spacing = 0.0
        with bells._cv:  # bring the queued ring forward instead of waiting 30 s
            for job in bells._heap:
                job.due = 0.0
            bells._cv.notify_all()
        assert bells.flush()
        assert bells.rung == 2 and bells.coalesced == 3
        assert watch.rang("alice")
        assert watch.newest("alice") == "messages/alice/5_bob_00000005.json"
    finally:
        bells.close()


def test_a_bell_a_stranger_wrote_names_nothing(store) -> None:  # type: ignore[no-untyped-def]
    watch = BellWatch(store)
    for body in (b"not json", b"[1, 2]", b'{"newest": 7}', b"\xff\xfe"):
        store.put(keys.bell_key("alice"), body)
        assert watch.rang("alice")
        assert watch.newest("alice") is None


def _cli_message(store: Any, to: str, text: str) -> str:
    key = keys.append_key(keys.mailbox_prefix(to), "cli-agent")
    doc = {"from": "cli-agent", "to": to, "message": text, "sent_at": "t"}
    store.put(key, records.encode(doc))
    return key


def test_take_next_keeps_the_oldest_first_whatever_the_hint(store) -> None:  # type: ignore[no-untyped-def]
    alice, bob = Project(store, "alice"), Project(store, "bob")
    try:
        older = _cli_message(store, "alice", "older, from the CLI")  # rings nothing
        newer = bob.messages.send("alice", "newer")
        msg, more = alice.messages.take_next(hint=newer.key)
        assert msg is not None and (msg.key, msg.text) == (older, "older, from the CLI")
        assert more
        msg, more = alice.messages.take_next(hint=newer.key)
        assert msg is not None and msg.text == "newer" and not more
        assert alice.messages.take_next(hint=newer.key) == (None, False)
        # the CLI's cursor is the one advanced: the CLI sees nothing new either
        cursor = records.decode(store.get(keys.cursor_key("alice")).body, "cursor")
        assert set(cursor) >= {"direct", "broadcast"}
    finally:
        alice.close()
        bob.close()


def test_a_hint_outside_the_mailbox_is_not_fetched(store) -> None:  # type: ignore[no-untyped-def]
    alice = Project(store, "alice")
    store.put("memory/secret.json", b'{"value": "x"}')
    key = _cli_message(store, "alice", "hi")
    for hint in ("memory/secret.json", "messages/bob/1_x_00000000.json", "../x"):
        msg, _ = alice.messages.take_next(hint=hint)
        if msg is not None:
            assert msg.key == key
    assert alice.messages.take_next() == (None, False)


def test_without_broadcasts_they_stay_unread(store) -> None:  # type: ignore[no-untyped-def]
    alice, bob = Project(store, "alice"), Project(store, "bob")
    try:
        bob.messages.send(keys.BROADCAST, "all hands")
        direct = bob.messages.send("alice", "just you")
        msg, more = alice.messages.take_next(broadcast=False, hint=direct.key)
        assert msg is not None and msg.text == "just you" and not more
        assert alice.messages.take_next(broadcast=False) == (None, False)
        msg, more = alice.messages.take_next()
        assert msg is not None and msg.text == "all hands" and not more
    finally:
        alice.close()
        bob.close()


def test_a_cursor_that_went_back_is_listed_from_where_it_is(store) -> None:  # type: ignore[no-untyped-def]
    """Listings start at the watermark this reader saw last; a cursor removed
    (or rewound) by someone else is honoured: everything is read again, as the
    CLI would."""
    alice, bob = Project(store, "alice"), Project(store, "bob")
    try:
        for i in range(3):
            bob.messages.send("alice", f"m{i}")
        got = [m.text for m in iter(alice.messages.next_unread, None)]
        assert got == ["m0", "m1", "m2"]
        doc = records.decode(store.get(keys.cursor_key("alice")).body, "cursor")
        assert doc["direct"]["seen"]  # within the grace window: remembered by key
        store.delete(keys.cursor_key("alice"))
        again = [m.text for m in iter(alice.messages.next_unread, None)]
        assert again == ["m0", "m1", "m2"]
    finally:
        alice.close()
        bob.close()


def test_a_rung_bell_costs_two_round_trips(moto_server, s3_bucket) -> None:  # type: ignore[no-untyped-def]
    """Counted at the endpoint: after the bell, one reading sends the cursor's
    GET, the mailbox's LIST and the named message's GET together, then the
    cursor's PUT; no second GET of the message, no broadcasts' LIST."""
    proxy = LoopbackProxy(moto_server.port)
    store = S3Store(s3_bucket, "proj", endpoint=proxy.endpoint, region="us-east-1", path_style=True)
    alice, bob = Project(store, "alice"), Project(store, "bob")
    try:
        alice.messages.take_next()  # learn the watermark
        sent = bob.messages.send("alice", "hello")
        assert bob.bells.flush()
        assert alice.waiting.watch.rang("alice")
        hint = alice.waiting.watch.newest("alice")
        assert hint == sent.key
        before = len(proxy.recorded())
        msg, more = alice.messages.take_next(broadcast=False, hint=hint)
        assert msg is not None and msg.text == "hello" and not more
        reqs = proxy.recorded()[before:]
        kinds = sorted(
            "LIST" if "list-type" in r.target else f"{r.method} {r.path.rsplit('/', 1)[-1]}"
            for r in reqs
        )
        name = sent.key.rsplit("/", 1)[-1]
        assert kinds == sorted(["GET _cursor.json", "LIST", f"GET {name}", "PUT _cursor.json"])
    finally:
        alice.close()
        bob.close()
        store.close()
        proxy.close()
