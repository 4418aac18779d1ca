"""The peek-and-acknowledge pair behind the hooks: ``Messages.unread`` and ``Messages.ack``.

They share the durable cursor with ``next_unread`` (``inbox/next``) and the
real ``tracecraft inbox --new``: no path delivers a message another already
delivered.
"""

from __future__ import annotations

import time

import pytest

from tcfs.errors import InvalidName
from tcfs.protocol import Project, keys, records
from tcfs.store.s3 import S3Store


def test_unread_peeks_and_ack_consumes_exactly_the_named(store) -> None:
    alice, bob, carol = (Project(store, a) for a in ("alice", "bob", "carol"))
    m1 = alice.messages.send("bob", "one", step="build")
    m2 = carol.messages.send("_broadcast", "to all")
    m3 = alice.messages.send("bob", "three")
    bob.messages.send("_broadcast", "bob's own")  # never shown to bob

    peek = bob.messages.unread()
    assert [(m.name, m.text, m.broadcast) for m in peek] == [
        (m1.name, "one", False),
        (m2.name, "to all", True),
        (m3.name, "three", False),
    ]
    assert peek[0].step == "build" and peek[0].sender == "alice"
    assert [m.name for m in bob.messages.unread()] == [m.name for m in peek]  # nothing moved
    assert [m.name for m in bob.messages.unread(limit=2)] == [m1.name, m2.name]

    assert bob.messages.ack([m1.name, m2.name]) == [m1.name, m2.name]
    assert bob.messages.ack([m1.name]) == []  # twice is harmless
    assert [m.name for m in bob.messages.unread()] == [m3.name]
    got = bob.messages.next_unread()
    assert got is not None and got.name == m3.name  # inbox/next agrees
    assert bob.messages.unread() == [] and bob.messages.next_unread() is None
    assert bob.messages.ack([m3.name]) == []
    assert [m.text for m in carol.messages.unread()] == ["bob's own"]


def test_ack_of_a_later_message_never_hides_an_earlier_one(store) -> None:
    """The CLI's watermark trails the newest consumed stamp by five minutes;
    acknowledging a message sent an hour after one still unread must not
    carry it past the earlier one."""
    bob = Project(store, "bob")
    now = time.time_ns()
    prefix = keys.mailbox_prefix("bob")
    early = keys.append_key(prefix, "alice", ns=now - 3600 * 10**9)
    late = keys.append_key(prefix, "alice", ns=now)
    for k, text in ((early, "early"), (late, "late")):
        doc = {"from": "alice", "to": "bob", "message": text, "sent_at": records.now_iso()}
        store.put(k, records.encode(doc))
    late_name = late.rsplit("/", 1)[1][: -len(".json")]
    assert bob.messages.ack([late_name]) == [late_name]
    assert [m.text for m in bob.messages.unread()] == ["early"]
    got = bob.messages.next_unread()
    assert got is not None and got.text == "early"
    assert bob.messages.unread() == []


def test_ack_refuses_a_name_that_is_not_a_message(store) -> None:
    bob = Project(store, "bob")
    with pytest.raises(InvalidName):
        bob.messages.ack(["../_cursor"])


@pytest.mark.interop
def test_unread_and_ack_share_the_cursor_with_inbox_new(moto_server, s3_bucket, tracecraft) -> None:
    s3 = S3Store(
        s3_bucket, "proj", endpoint=moto_server.endpoint, region="us-east-1", path_style=True
    )
    try:
        alice, bob = Project(s3, "alice"), Project(s3, "bob")
        m1 = alice.messages.send("bob", "msg-1")
        assert tracecraft("carol", "send", "bob", "msg-2").returncode == 0
        peek = bob.messages.unread()
        assert [m.text for m in peek] == ["msg-1", "msg-2"]
        assert bob.messages.ack([m1.name]) == [m1.name]
        out = tracecraft("bob", "inbox", "--new").stdout
        assert "msg-2" in out and "msg-1" not in out
        # the CLI consumed msg-2: a later ack of it changes nothing, unread is empty
        assert bob.messages.unread() == []
        assert bob.messages.ack([peek[1].name]) == []
        assert tracecraft("carol", "send", "bob", "msg-3").returncode == 0
        assert [m.text for m in bob.messages.unread()] == ["msg-3"]
        assert bob.messages.ack([m.name for m in bob.messages.unread()])
        assert "No new messages." in tracecraft("bob", "inbox", "--new").stdout
    finally:
        s3.close()
