"""Hostile input: bad names are refused before any write, and malformed objects
in the bucket end in a clear tcfs error (or a sensible degrade), never a
traceback of another type."""

from __future__ import annotations

import errno
import io
import json
from collections.abc import Callable

import pytest

from tcfs.errors import CorruptObject, InvalidArgument, InvalidName, NotFound, TcfsError
from tcfs.protocol import Project

LONG = "a" * 129

# (name, substring the error message must contain: the rule it names)
COMMON_BAD = [
    ("", "empty"),
    (".", "not allowed"),
    ("..", "not allowed"),
    ("a/b", "'/'"),
    ("_x", "reserved"),
    ("_broadcast", "reserved"),
    (LONG, "longer than 128"),
    ("a\x00b", "must match"),
    ("a\nb", "must match"),
    ("a b", "must match"),
    (" a", "must match"),
    ("аlice", "must match"),  # Cyrillic а
    ("ａb", "must match"),  # fullwidth a
    ("a\u200bb", "must match"),  # zero-width space
    ("-a", "must match"),
]
#: what step ids and memory key parts refuse beyond the CLI's layout, and why
VISIBLE_BAD = [
    ("", "empty"),
    (".", "not allowed"),
    ("..", "not allowed"),
    ("a/b", "'/'"),
    ("_x", "reserved"),
    (LONG, "longer than 128"),
    ("a\x00b", "invisible"),
    ("a\nb", "invisible"),
    ("a\u200bb", "invisible"),  # zero-width space
    (" a", "white space"),
    ("a ", "white space"),
    ("-a", "option"),
    ("re\u0301sume\u0301", "NFC"),
    ("a\udcffb", "UTF-8"),
]
STEP_BAD = [
    *VISIBLE_BAD,
    ("S1.A", "contains '.'"),
    ("s1.a", "contains '.'"),
    ("S1-A", "upper case"),
    ("Build", "upper case"),
    ("a..b", "contains '.'"),
]
AGENT_BAD = [*COMMON_BAD, ("a:b", "must match"), ("a*", "must match")]
ARTIFACT_BAD = [
    ("", "empty"),
    (".", "not allowed"),
    ("..", "not allowed"),
    ("a/../b", "not allowed"),
    ("a//b", "empty part"),
    ("/a", "empty part"),
    ("a/", "empty part"),
    ("a\x00b", "control character"),
    ("a\nb", "control character"),
    ("a\udcffb", "not valid UTF-8"),
    ("é" * 128, "longer than 255 bytes"),
    ("/".join(["d" * 200] * 4), "longer than 768 bytes"),
    (".tcfs-tmp-x", "reserved"),
    (7, "must be a string"),
]
MEMORY_BAD = [
    ("", "empty"),
    ("a..b", "empty"),
    (".a", "empty"),
    ("a.", "empty"),
    ("a/b", "'/'"),
    ("_history", "reserved"),
    ("_history.a", "reserved"),
    ("a._x", "reserved"),
    *VISIBLE_BAD[4:],
    ("a." * 17 + "a", "deeper than 16"),
    (("a.b",), "contains '.'"),
    (("a", ".."), "not allowed"),
    (("a", ""), "empty"),
    ((), "empty"),
]


Call = tuple[str, Callable[[], object]]


def _refused_everywhere(
    cases: list[tuple[object, str]], calls_for: Callable[[object], list[Call]]
) -> None:
    """Every call with every bad name raises InvalidName (EINVAL) naming the rule."""
    failures = []
    for name, rule in cases:
        for label, call in calls_for(name):
            try:
                call()
            except InvalidName as exc:
                if exc.errno != errno.EINVAL or rule not in str(exc):
                    failures.append(f"{label}({name!r}): {str(exc)!r} does not name {rule!r}")
            except Exception as exc:
                failures.append(f"{label}({name!r}): {type(exc).__name__}: {exc}")
            else:
                failures.append(f"{label}({name!r}) was accepted")
    assert not failures, "\n".join(failures)


@pytest.fixture
def alice(store) -> Project:
    p = Project(store, "alice")
    p.steps.claim("ok")  # something in the bucket, so "nothing changed" means something
    return p


def test_bad_step_ids(alice, bucket_keys) -> None:
    before = bucket_keys(alice.store)
    _refused_everywhere(
        STEP_BAD,
        lambda name: [
            ("claim", lambda: alice.steps.claim(name)),
            ("status", lambda: alice.steps.status(name)),
            ("set_status", lambda: alice.steps.set_status(name, "complete")),
            ("handoff", lambda: alice.steps.handoff(name)),
            ("release", lambda: alice.steps.release(name)),
            ("read_claim", lambda: alice.steps.read_claim(name)),
            ("send --step", lambda: alice.messages.send("bob", "x", step=name)),
            ("artifact scope", lambda: alice.artifacts.upload(name, "f", io.BytesIO(b"x"), 1)),
        ],
    )
    assert bucket_keys(alice.store) == before


def test_bad_agent_ids(alice, bucket_keys) -> None:
    before = bucket_keys(alice.store)
    _refused_everywhere(
        AGENT_BAD,
        lambda name: [
            ("Project", lambda: Project(alice.store, name)),
            ("agents.get", lambda: alice.agents.get(name)),
            ("handoff --to", lambda: alice.steps.handoff("ok", next_agent=name)),
        ],
    )
    assert bucket_keys(alice.store) == before


def test_bad_recipients(alice, bucket_keys) -> None:
    before = bucket_keys(alice.store)
    cases = [c for c in AGENT_BAD if c[0] != "_broadcast"]
    cases += [(n, "reserved") for n in ("_cursor", "_tcfs_hidden", "_history", "_x")]
    _refused_everywhere(cases, lambda name: [("send", lambda: alice.messages.send(name, "hi"))])
    assert bucket_keys(alice.store) == before
    alice.messages.send("_broadcast", "allowed")  # the one reserved name that is a recipient
    assert alice.bells.flush()
    added = set(bucket_keys(alice.store)) - set(before)
    assert len(added) == 2 and "messages/_broadcast/_tcfs_bell.json" in added  # + its doorbell


def test_bad_memory_keys(alice, bucket_keys) -> None:
    before = bucket_keys(alice.store)
    _refused_everywhere(
        MEMORY_BAD,
        lambda name: [
            ("set", lambda: alice.memory.set(name, "v")),
            ("get", lambda: alice.memory.get(name)),
            ("delete", lambda: alice.memory.delete(name)),
            ("history", lambda: alice.memory.history(name)),
        ],
    )
    assert bucket_keys(alice.store) == before


def test_bad_artifact_names(alice, bucket_keys) -> None:
    before = bucket_keys(alice.store)
    _refused_everywhere(
        ARTIFACT_BAD,
        lambda name: [
            ("upload", lambda: alice.artifacts.upload("shared", name, io.BytesIO(b"x"), 1)),
            ("read", lambda: alice.artifacts.read("shared", name, 0, 10)),
            ("head", lambda: alice.artifacts.head("shared", name)),
            ("delete", lambda: alice.artifacts.delete("shared", name)),
        ],
    )
    assert bucket_keys(alice.store) == before


def test_bad_status_words_and_message_names(alice, bucket_keys) -> None:
    before = bucket_keys(alice.store)
    for word in ("done", "pending", "", "COMPLETE", "complete; rm -rf /"):
        with pytest.raises(InvalidArgument) as exc:
            alice.steps.set_status("ok", word)
        assert exc.value.errno == errno.EINVAL and "unknown status" in str(exc.value)
        assert not isinstance(exc.value, InvalidName)  # a status word is not a name
    with pytest.raises(InvalidArgument):
        alice.steps.handoff("ok", state="in_progress")
    for name in ("../x", "_cursor", "", "1_a_zz", "x" * 300):
        with pytest.raises(InvalidName):
            alice.messages.read(name)
        with pytest.raises(InvalidName):
            alice.messages.remove(name)
    assert bucket_keys(alice.store) == before


# ---------- malformed objects written straight into the bucket ----------

TWO_MIB = b'{"agent": "' + b"x" * (2 << 20) + b'"}'

CLAIM_CASES = [
    (b"not json", "not valid JSON"),
    (b"\xff\xfe\x00", "not valid JSON"),
    (b"[1, 2]", "expected a JSON object"),
    (b'"agent"', "expected a JSON object"),
    (b"null", "expected a JSON object"),
    (b"{}", "missing field 'agent'"),
    (b'{"agent": 7}', "'agent' has type int"),
    (b'{"agent": "a", "epoch": "3"}', "'epoch' has type str"),
    (b'{"agent": "a", "epoch": true}', "'epoch' is a boolean"),
    (b'{"agent": "a", "expires_at": "soon"}', "not a time"),
    (b'{"agent": "a", "expires_at": [1]}', "'expires_at' has type list"),
    (b'{"agent": "a", "lease_ttl_s": "60"}', "'lease_ttl_s' has type str"),
    (TWO_MIB, "larger than"),
]


@pytest.mark.parametrize(("body", "why"), CLAIM_CASES, ids=[c[1] for c in CLAIM_CASES])
def test_malformed_claim(store, body, why) -> None:
    store.put("steps/s1/claim.json", body)
    alice = Project(store, "alice")
    for call in (
        lambda: alice.steps.read_claim("s1"),
        lambda: alice.steps.status("s1"),
        lambda: alice.steps.claim("s1"),
        lambda: alice.steps.release("s1"),
        lambda: alice.steps.set_status("s1", "complete"),
    ):
        with pytest.raises(CorruptObject) as exc:
            call()
        assert "steps/s1/claim.json" in str(exc.value) and why in str(exc.value)
        assert exc.value.errno == errno.EIO
    assert store.get("steps/s1/claim.json").body == body  # never "repaired" by overwriting


STATUS_CASES = [
    (b"{", "not valid JSON"),
    (b"[]", "expected a JSON object"),
    (b'{"status": 1}', "'status' has type int"),
    (b'{"status": "exploded"}', "unknown status"),
    (b'{"status": "complete", "epoch": "2"}', "'epoch' has type str"),
    (b'{"status": "complete", "agent": ["x"]}', "'agent' has type list"),
]


@pytest.mark.parametrize(("body", "why"), STATUS_CASES, ids=[c[1] for c in STATUS_CASES])
def test_malformed_status(store, body, why) -> None:
    store.put("steps/s1/status.json", body)
    alice = Project(store, "alice")
    with pytest.raises(CorruptObject) as exc:
        alice.steps.status("s1")
    assert why in str(exc.value)


def test_malformed_handoff_and_agent_records(store) -> None:
    alice = Project(store, "alice")
    store.put("steps/s1/handoff.json", b"[]")
    with pytest.raises(CorruptObject):
        alice.steps.read_handoff("s1")
    for body in (b"nope", b"[]", b'{"heartbeat": 5}', b'{"step": {"x": 1}}', b'{"status": 1}'):
        store.put("agents/bob.json", body)
        with pytest.raises(CorruptObject):
            alice.agents.get("bob")
    assert alice.agents.ids() == ["bob"]  # listing does not read the body
    store.put("agents/bob.json", b'{"heartbeat": "not a time"}')
    assert alice.agents.get("bob").presence == "unknown"


def test_malformed_messages(store) -> None:
    bob = Project(store, "bob")
    good = Project(store, "alice").messages.send("bob", "first")
    # a message body that is a number, a list, garbage; a text that is a number
    bad = {
        "messages/bob/1000000000000000001_mallory_0000aaaa.json": b"42",
        "messages/bob/1000000000000000002_mallory_0000bbbb.json": b"[1]",
        "messages/bob/1000000000000000003_mallory_0000cccc.json": b"\x00garbage",
    }
    for k, v in bad.items():
        store.put(k, v)
    numeric = "messages/bob/1000000000000000004_mallory_0000dddd.json"
    store.put(numeric, json.dumps({"from": "mallory", "to": "bob", "message": 42}).encode())
    names = bob.messages.inbox()
    assert good.name in names and len(names) == 5
    for k in bad:
        with pytest.raises(CorruptObject) as exc:
            bob.messages.read(k.rsplit("/", 1)[1][:-5])
        assert k in str(exc.value)
    assert bob.messages.read(numeric.rsplit("/", 1)[1][:-5]).text == "42"
    # next_unread hands out readable mail and reports each corrupt one once
    got = []
    for _ in range(10):
        try:
            msg = bob.messages.next_unread()
        except CorruptObject:
            got.append("corrupt")
            continue
        if msg is None:
            break
        got.append(msg.text)
    assert got == ["corrupt", "corrupt", "corrupt", "42", "first"]
    assert bob.messages.next_unread() is None


@pytest.mark.parametrize(
    "body",
    [
        b"garbage",
        b"[]",
        b"7",
        b'{"direct": 5, "broadcast": "x"}',
        b'{"direct": {"watermark": 9, "seen": "abc"}}',
        b'{"direct": {"seen": [1, null]}}',
    ],
)
def test_garbage_cursor_rereads_from_the_start(store, body) -> None:
    """A cursor that cannot be understood degrades to re-reading everything
    (at-least-once, as the CLI intends), and is then rewritten in good form."""
    alice, bob = Project(store, "alice"), Project(store, "bob")
    m1 = alice.messages.send("bob", "one")
    m2 = alice.messages.send("_broadcast", "two")
    store.put("messages/bob/_cursor.json", body)
    assert bob.messages.next_unread().name == m1.name
    assert bob.messages.next_unread().name == m2.name
    assert bob.messages.next_unread() is None
    cursor = json.loads(store.get("messages/bob/_cursor.json").body)
    assert isinstance(cursor["direct"]["seen"], list)


@pytest.mark.parametrize(
    "stamp",
    ["1000000000000000001", "1", "9999999999999999999", "99999999999999999999"],
    ids=["short-horizon", "tiny", "year-2286", "20-digits"],
)
def test_odd_message_stamps_do_not_hide_later_mail(store, stamp) -> None:
    """A key stamped far in the past or the future (a skewed or hostile sender)
    must not drag the cursor's watermark past mail that is still to come."""
    bob, alice = Project(store, "bob"), Project(store, "alice")
    odd = f"messages/bob/{stamp}_mallory_0000aaaa.json"
    store.put(odd, json.dumps({"from": "mallory", "to": "bob", "message": "odd"}).encode())
    m1 = alice.messages.send("bob", "one")
    got = []
    while (msg := bob.messages.next_unread()) is not None:
        got.append(msg.text)
        assert len(got) < 10
    assert sorted(got) == ["odd", "one"]
    m2 = alice.messages.send("bob", "two")
    assert bob.messages.next_unread().name == m2.name
    assert bob.messages.next_unread() is None
    wm = json.loads(store.get("messages/bob/_cursor.json").body)["direct"]["watermark"]
    assert wm is None or wm < m1.key


def test_poisoned_watermark_is_dropped(store) -> None:
    """A cursor whose watermark lies in the future or outside the mailbox (as an
    odd writer could leave it) re-reads instead of hiding everything."""
    bob, alice = Project(store, "bob"), Project(store, "alice")
    m1 = alice.messages.send("bob", "one")
    for wm in ("messages/bob/99999999999999999999", "zzz", "messages/carol/1"):
        store.put(
            "messages/bob/_cursor.json",
            json.dumps({"direct": {"watermark": wm, "seen": []}}).encode(),
        )
        assert bob.messages.next_unread().name == m1.name
        assert bob.messages.next_unread() is None


def test_malformed_memory_values(store) -> None:
    alice = Project(store, "alice")
    store.put("memory/obj.json", json.dumps({"value": {"a": 1}}).encode())
    assert json.loads(alice.memory.get("obj").value) == {"a": 1}  # shown as JSON text
    store.put("memory/num.json", json.dumps({"value": 3, "set_by": "x"}).encode())
    assert alice.memory.get("num").value == "3"
    for body, why in (
        (b"{}", "missing field 'value'"),
        (b"[]", "expected a JSON object"),
        (b"oops", "not valid JSON"),
        (json.dumps({"value": "v", "set_by": 5}).encode(), "'set_by' has type int"),
        (TWO_MIB, "larger than"),
    ):
        store.put("memory/bad.json", body)
        with pytest.raises(CorruptObject) as exc:
            alice.memory.get("bad")
        assert why in str(exc.value)
    store.put("memory/_history/h/1_x_0000aaaa.json", b"not json")
    with pytest.raises(CorruptObject):
        alice.memory.history("h")


def test_foreign_names_in_listings_are_skipped(store) -> None:
    """Keys with names tcfs would refuse (written by other tools) are left out
    of listings rather than breaking them or being shown mangled."""
    alice = Project(store, "alice")
    alice.steps.claim("good")
    for k in (
        "steps/Bad.Step/claim.json",
        "steps/_x/claim.json",
        "agents/not a name.json",
        "memory/has.dot.json",
        "memory/_history/k/1_a_0000aaaa.json",
        "artifacts/UPPER/x",
        "artifacts/shared/sub/f",  # in a folder: not one of the scope's own files
        "messages/alice/notes.txt",
        "messages/alice/1_alice.json",
        "messages/alice/nested/1_x_0000aaaa.json",
    ):
        store.put(k, b"{}")
    alice.memory.set("fine", "1")
    assert alice.steps.ids() == ["good"]
    assert alice.agents.ids() == []
    assert alice.memory.entries() == (["fine"], [])
    assert alice.artifacts.scopes() == ["shared"]
    assert alice.artifacts.files("shared") == []
    assert alice.artifacts.entries("shared") == ([], ["sub"])
    assert alice.messages.inbox() == []
    assert alice.messages.next_unread() is None


def test_every_failure_is_a_tcfs_error(store) -> None:
    """Sweep: every protocol call on a bucket full of junk raises only TcfsError."""
    junk = [b"", b"\x00", b"[]", b"1", b'{"agent": null}', b'{"value": null}']
    keys = [
        "steps/j/claim.json",
        "steps/j/status.json",
        "steps/j/handoff.json",
        "memory/j.json",
        "agents/j.json",
        "messages/j/_cursor.json",
        "messages/j/_tcfs_hidden.json",
    ]
    for body in junk:
        for k in keys:
            store.put(k, body)
        p = Project(store, "j")
        calls = [
            lambda p=p: p.steps.status("j"),
            lambda p=p: p.steps.claim("j"),
            lambda p=p: p.steps.read_handoff("j"),
            lambda p=p: p.steps.release("j"),
            lambda p=p: p.memory.get("j"),
            lambda p=p: p.agents.get("j"),
            lambda p=p: p.messages.inbox(),
            lambda p=p: p.messages.next_unread(),
        ]
        for call in calls:
            try:
                call()
            except TcfsError:
                pass
        with pytest.raises(NotFound):
            p.memory.get("absent")


@pytest.mark.parametrize("body", [b"junk", b"[]", b'{"broadcast": "x"}', b'{"broadcast": [1]}'])
def test_garbage_hidden_list_shows_everything(store, body) -> None:
    """A broken hidden-broadcast list degrades to hiding nothing, and the next
    removal rewrites it."""
    alice, bob = Project(store, "alice"), Project(store, "bob")
    b1 = alice.messages.send("_broadcast", "one")
    b2 = alice.messages.send("_broadcast", "two")
    store.put("messages/bob/_tcfs_hidden.json", body)
    assert bob.messages.inbox() == [b1.name, b2.name]
    bob.messages.remove(b1.name)
    assert bob.messages.inbox() == [b2.name]
    assert json.loads(store.get("messages/bob/_tcfs_hidden.json").body)["broadcast"] == [b1.key]


def test_names_are_as_broad_as_the_cli_layout(alice, store) -> None:
    """Step ids and memory key parts take any visible name without a dot: the
    CLI's layout holds them, and the key is the name as it is."""
    for key in ("design.my key", "notes.résumé", "ключ.значение", "a.x~y#z"):
        alice.memory.set(key, "v")
        assert alice.memory.get(key).value == "v"
        assert store.head("memory/" + key.replace(".", "/") + ".json").size > 0
    assert "my key" in alice.memory.entries(("design",))[0]
    alice.steps.claim("build step 2")
    assert "build step 2" in alice.steps.ids()
