"""The transcript normalizer on what the real harness programs wrote.

Each fixture under ``tests/mirror/real/`` is read by its harness's mirror
adapter (so the lines are exactly what lands in the bucket) and turned into a
conversation: the prompts the conformance run typed, the shell call and the
replies must come out with the right speakers.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tcfs.mirror import adapters
from tcfs.replay.conversation import TEXT_LIMIT, Entry, normalize
from tests.support.harnesses.fixtures import HARNESSES, install_fixture
from tests.support.mirroring import HARNESS_ENV


def mirrored(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """Each session of the fixture, as the lines the mirror uploads."""
    home, _ = install_fixture(name, tmp_path)
    monkeypatch.setenv("HOME", str(home))
    for var in HARNESS_ENV:
        monkeypatch.delenv(var, raising=False)
    adapter = adapters.get(name)
    out = []
    for ref in adapter.discover(None):
        data, _ = adapter.read_new(ref, None)
        out.append(data.decode("utf-8", "replace").splitlines())
    return out


def said(entries: list[Entry], role: str) -> list[str]:
    return [e.text for e in entries if e.role == role]


@pytest.mark.parametrize("name", HARNESSES)
def test_every_real_session_reads_as_a_conversation(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sessions = mirrored(name, tmp_path, monkeypatch)
    assert len(sessions) >= 2  # the main session and its subagent's
    main = max(sessions, key=len)
    entries = normalize(name, main)
    # OpenCode's conformance prompt was typed with its quotes
    prompts = [t.strip('"') for t in said(entries, "user")]
    assert any(t.startswith("TURN-ONE: run the shell step") for t in prompts), prompts
    assert any("TURN-TWO: print the long listing." in t for t in said(entries, "user"))
    assert "TURN-TWO-DONE" in said(entries, "assistant")
    calls = [e for e in entries if e.role == "tool_call"]
    assert any("echo STEP-SHELL-42" in e.text and e.tool for e in calls), calls
    results = [e for e in entries if e.role == "tool_result"]
    assert any("STEP-SHELL-42" in e.text for e in results), results
    assert all(e.tool for e in results), results  # each result names its call's tool
    assert sorted({e.i for e in entries}) == list(range(len(main)))  # every line is shown
    long = next(e for e in results if "LONG-OUTPUT-LINE" in e.text)
    assert len(long.text) <= TEXT_LIMIT + 60
    sub = min(sessions, key=len)
    sub_entries = normalize(name, sub)
    assert any("SUBAGENT-TASK" in t for t in said(sub_entries, "user"))
    # Gemini's subagent answers through its complete_task tool
    replies = said(sub_entries, "assistant") + said(sub_entries, "tool_call")
    assert any("SUBAGENT-REPLY" in t for t in replies)


@pytest.mark.parametrize("name", HARNESSES)
def test_lines_of_no_known_shape_are_kept_as_other(name: str) -> None:
    lines = [
        "not json",
        "[1, 2]",
        '{"type": "user", "message": {"content": 7}}',
        '{"type": "message", "message": {"role": "toolResult", "content": {"x": []}}}',
        '{"role": ["user"], "content": null, "tool_calls": "[{\\"function\\": 3}]"}',
        '{"type": "response_item", "payload": {"type": "message", "content": [null]}}',
        '{"type": "part", "data": {"type": "tool", "state": "broken"}}',
        '{"type": "gemini", "toolCalls": [1, null], "content": {"text": 5}}',
    ]
    entries = normalize(name, lines, first=10)
    assert sorted({e.i for e in entries}) == list(range(10, 10 + len(lines)))
    assert entries[0].role == entries[1].role == "other"
    assert all(isinstance(e.text, str) for e in entries)


def test_an_unknown_harness_shows_every_line_as_other() -> None:
    entries = normalize("newharness", ['{"type": "hello"}'])
    assert [(e.role, e.text) for e in entries] == [("other", "hello")]
