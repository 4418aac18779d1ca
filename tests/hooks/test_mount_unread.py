"""``inbox/unread`` and ``inbox/ack`` through real mounts, and the hook calls
that use them: each message reaches an agent's context exactly once, by any
path (a hook, ``inbox/next``, the real ``tracecraft inbox --new``)."""

from __future__ import annotations

import json
import time

import pytest

from tcfs.protocol.holds import HOLD_S
from tests.hooks.conftest import Hook, run_hook, run_hook_in_time
from tests.support.mounts import sh

pytestmark = pytest.mark.mount


def read_unread(m) -> dict:  # type: ignore[no-untyped-def,type-arg]
    """``cat inbox/unread`` as a person at a prompt runs it: its hold ends
    with the ``cat``."""
    out = sh(f"cat {m.path}/inbox/unread")
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["agent"] == m.agent and doc["project"] == "proj"
    return doc  # type: ignore[no-any-return]


def unread(m) -> list[dict]:  # type: ignore[no-untyped-def,type-arg]
    return read_unread(m)["unread"]  # type: ignore[no-any-return]


def test_unread_peeks_ack_consumes_and_next_agrees(mount) -> None:  # type: ignore[no-untyped-def]
    alice, bob = mount("alice"), mount("bob", wait_timeout=2)
    assert sh(f"echo 'first' > {alice.path}/outbox/bob").returncode == 0
    assert sh(f"echo 'to all' > {alice.path}/outbox/_broadcast").returncode == 0
    assert sh(f"echo 'third' > {alice.path}/outbox/bob").returncode == 0
    got = unread(bob)
    assert [(m["text"], m["from"], m["broadcast"]) for m in got] == [
        ("first", "alice", False),
        ("to all", "alice", True),
        ("third", "alice", False),
    ]
    assert unread(bob) == got  # reading does not consume
    held_at = time.monotonic()
    hook = Hook(bob.path)  # a hook's read, whose process lives on until it acknowledges
    assert hook.shown == got
    again = read_unread(bob)  # held for that reader a while
    assert again["unread"] == []
    assert [r["name"] for r in again["reserved"]] == sorted(m["name"] for m in got)
    assert all(0 < r["for_s"] <= HOLD_S for r in again["reserved"])
    assert unread(alice) == []  # her own broadcast is not hers to read
    listing = sh(f"ls {bob.path}/inbox").stdout.split()
    assert "unread" not in listing and "ack" not in listing and len(listing) == 3

    names = "\\n".join(m["name"] for m in got[:2])
    assert sh(f"printf '{names}\\n' > {bob.path}/inbox/ack").returncode == 0
    after_ack = read_unread(bob)
    assert after_ack["unread"] == [] and [r["name"] for r in after_ack["reserved"]] == [
        got[2]["name"]
    ]
    time.sleep(max(0.0, held_at + HOLD_S + 0.2 - time.monotonic()))  # the hold lapses
    nxt = sh(f"cat {bob.path}/inbox/next", timeout=20)
    assert nxt.returncode == 0 and nxt.stdout == "third\n"
    hook.kill()
    assert unread(bob) == []
    assert sh(f"echo {got[2]['name']} > {bob.path}/inbox/ack").returncode == 0  # harmless
    assert sh(f"cat {bob.path}/inbox/next", timeout=20).returncode != 0  # nothing left

    bad = sh(f"echo ../_cursor > {bob.path}/inbox/ack")
    assert bad.returncode != 0 and "Invalid argument" in bad.stderr
    assert sh(f"cat {bob.path}/inbox/ack").returncode != 0  # write-only
    assert len(sh(f"ls {bob.path}/inbox").stdout.split()) == 3  # nothing was deleted


def test_prompt_and_stop_deliver_each_message_once(mount) -> None:  # type: ignore[no-untyped-def]
    alice, bob = mount("alice"), mount("bob", wait_timeout=2)
    assert run_hook("claude-code", "prompt", bob.path).out == {}
    sh(f"echo 'please review step api' > {alice.path}/outbox/bob")
    first = run_hook("claude-code", "prompt", bob.path)
    assert first.returncode == 0, first.stderr
    assert first.out["hookSpecificOutput"]["hookEventName"] == "UserPromptSubmit"
    assert "please review step api" in first.context and "from alice" in first.context
    assert run_hook("claude-code", "prompt", bob.path).out == {}  # not twice
    assert unread(bob) == []
    assert sh(f"cat {bob.path}/inbox/next", timeout=20).returncode != 0

    # turn end with mail: the agent is asked to go on, once
    sh(f"echo 'one more thing' > {alice.path}/outbox/bob")
    held = run_hook("claude-code", "stop", bob.path, {"stop_hook_active": True})
    assert held.out == {}  # already held up once: let it stop; the mail waits
    assert [m["text"] for m in unread(bob)] == ["one more thing"]
    stop = run_hook("claude-code", "stop", bob.path, {"stop_hook_active": False})
    assert stop.out["decision"] == "block" and "one more thing" in stop.out["reason"]
    assert run_hook("claude-code", "stop", bob.path).out == {}
    assert unread(bob) == []


def test_gemini_and_codex_answer_in_their_own_words(mount) -> None:  # type: ignore[no-untyped-def]
    alice, bob = mount("alice"), mount("bob")
    sh(f"echo 'for gemini' > {alice.path}/outbox/bob")
    g = run_hook_in_time("gemini", "prompt", bob.path)
    assert g.out["hookSpecificOutput"]["hookEventName"] == "BeforeAgent"
    assert "for gemini" in g.context
    sh(f"echo 'stop gemini' > {alice.path}/outbox/bob")
    gs = run_hook_in_time("gemini", "stop", bob.path)
    assert gs.out["decision"] == "deny" and "stop gemini" in gs.out["reason"]
    sh(f"echo 'for codex' > {alice.path}/outbox/bob")
    c = run_hook_in_time("codex", "session-start", bob.path)
    assert c.out["hookSpecificOutput"]["hookEventName"] == "SessionStart"
    assert "for codex" in c.context


def test_session_start_says_who_what_and_what_waits(mount, tcfs_home) -> None:  # type: ignore[no-untyped-def]
    alice, bob = mount("alice"), mount("bob")
    assert sh(f"echo me > {bob.path}/steps/api/claim").returncode == 0
    assert sh(f"echo me > {alice.path}/steps/ui/claim").returncode == 0
    assert sh(f"echo complete > {alice.path}/steps/ui/status").returncode == 0
    secret = "AKIA" + "IOSFODNN7EXAMPLE"
    sh(f"echo 'the key is {secret}' > {alice.path}/outbox/bob")

    run = run_hook("claude-code", "session-start", bob.path)
    assert run.returncode == 0 and run.seconds < 2.0, run
    ctx = run.context
    assert run.out["hookSpecificOutput"]["hookEventName"] == "SessionStart"
    assert "You are agent 'bob' in the tcfs project 'proj'" in ctx
    assert f"echo me > {bob.path}/steps/<id>/claim" in ctx
    assert "Steps you hold: api (in_progress)." in ctx
    assert "Steps completed since your last session: ui." in ctx
    assert "1 new message for bob" in ctx and "the key is [REDACTED" in ctx
    assert secret not in json.dumps(run.out) and secret not in run.stderr

    again = run_hook("claude-code", "session-start", bob.path).context
    assert "completed since" not in again and "No unread messages." in again
    assert "Steps you hold: api (in_progress)." in again


@pytest.mark.interop
@pytest.mark.parametrize("backend", ["s3"], indirect=True)
def test_tracecraft_inbox_new_agrees(mount, tracecraft) -> None:  # type: ignore[no-untyped-def]
    bob = mount("bob")
    assert tracecraft("carol", "send", "bob", "from the cli").returncode == 0
    first = run_hook("claude-code", "prompt", bob.path)
    assert "from the cli" in first.context and "from carol" in first.context
    assert "No new messages." in tracecraft("bob", "inbox", "--new").stdout
    assert tracecraft("carol", "send", "bob", "read by the cli").returncode == 0
    assert "read by the cli" in tracecraft("bob", "inbox", "--new").stdout
    assert run_hook("claude-code", "prompt", bob.path).out == {}
