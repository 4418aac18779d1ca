"""Sessions the real harness programs wrote, replayed through ``tcfs mirror``.

The fixtures under ``tests/mirror/real/`` are what the conformance suite
(``make test-harnesses``) captured from Claude Code, Codex, Gemini CLI,
OpenCode, OpenClaw and Hermes, each after one turn with a shell call and a
subagent call and a second turn with a tool result over 8 KiB, relocated to
a neutral root.  Here they are put back under a test HOME, so ``make test``
keeps the real formats covered without installing anything.
"""

from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path

import pytest

from tcfs.mirror.redact import redact
from tcfs.protocol.sessions import SessionReader
from tcfs.store.local import LocalStore
from tests.support.harnesses import sources
from tests.support.harnesses.fixtures import FIXTURES, HARNESSES, install_fixture
from tests.support.mirroring import HARNESS_ENV, run_mirror, transcript
from tests.support.secrets import JSON_SECRETS, SECRETS


def setup_home(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    home, project = install_fixture(name, tmp_path)
    monkeypatch.setenv("HOME", str(home))
    for var in HARNESS_ENV:
        monkeypatch.delenv(var, raising=False)
    return home, project


def bucket_args(bucket: Path, *more: str) -> list[str]:
    return ["--bucket", str(bucket), "--project", "proj", *more]


def check(bucket: Path, name: str, expected: list[sources.Source]) -> None:
    store = LocalStore(bucket, "proj")
    try:
        problems = sources.mismatches(store, name, expected)
    finally:
        store.close()
    assert not problems, "\n".join(problems)


def test_every_harness_has_real_fixtures() -> None:
    assert HARNESSES == ["claude-code", "codex", "gemini", "hermes", "openclaw", "opencode"]


@pytest.mark.parametrize("name", HARNESSES)
def test_real_sessions_mirror_faithfully_named_and_auto(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tcfs_home: Path
) -> None:
    home, project = setup_home(name, tmp_path, monkeypatch)
    found = sources.READERS[name](home)
    assert any(s.parent for s in found), "the fixture lost its child"
    for args in (["--harness", name, "--all"], ["--all"]):  # named, then auto
        bucket = tmp_path / f"bucket-{len(args)}"
        r = run_mirror(bucket_args(bucket, *args), cwd=project)
        assert r.returncode == 0, r.stderr
        check(bucket, name, found)
        again = run_mirror(bucket_args(bucket, *args), cwd=project)
        assert "0 part(s) uploaded" in again.stdout, again.stdout


def openclaw_db(home: Path) -> Path:
    db = next((home / ".openclaw" / "agents").glob("*/agent/openclaw-agent.sqlite"))
    with sqlite3.connect(db) as conn:
        (packed,) = conn.execute(
            "SELECT COUNT(*) FROM transcript_events WHERE event_json IS NULL"
        ).fetchone()
    assert packed >= 1, "the fixture has no zstd-compressed event"
    return db


def test_openclaw_large_events_are_decoded_not_null(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tcfs_home: Path
) -> None:
    home, project = setup_home("openclaw", tmp_path, monkeypatch)
    openclaw_db(home)
    r = run_mirror(bucket_args(tmp_path / "b"), cwd=project)  # auto, default workspace
    assert r.returncode == 0, r.stderr
    store = LocalStore(tmp_path / "b", "proj")
    lines = [
        line
        for sid in SessionReader(store).sessions("openclaw")
        for line in transcript(store, "openclaw", sid).splitlines()
    ]
    assert b"null" not in lines
    assert any(b"LONG-OUTPUT-LINE" in line and len(line) > 8192 for line in lines)


def test_openclaw_damaged_event_is_an_error_and_uploads_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tcfs_home: Path
) -> None:
    home, project = setup_home("openclaw", tmp_path, monkeypatch)
    with sqlite3.connect(openclaw_db(home)) as conn:
        conn.execute(
            "UPDATE transcript_events SET event_zstd = x'00010203' WHERE event_json IS NULL"
        )
    r = run_mirror(bucket_args(tmp_path / "b", "--harness", "openclaw"), cwd=project)
    assert r.returncode == 1 and "bad event_zstd" in r.stdout + r.stderr
    assert "Traceback" not in r.stderr
    store = LocalStore(tmp_path / "b", "proj")
    for sid in SessionReader(store).sessions("openclaw"):
        assert b"null\n" not in transcript(store, "openclaw", sid)


def test_hermes_subagent_is_its_own_stream_with_its_parent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tcfs_home: Path
) -> None:
    home, project = setup_home("hermes", tmp_path, monkeypatch)
    found = sources.hermes(home)
    (child,) = [s for s in found if s.parent]
    parent = next(s for s in found if s.stream == child.parent)
    # the parent selects its child too; the child alone still names its parent
    for sid, expected in ((parent.stream, [parent, child]), (child.stream, [child])):
        bucket = tmp_path / f"b-{sid}"
        r = run_mirror(bucket_args(bucket, "--harness", "hermes", "--session-id", sid), project)
        assert r.returncode == 0, r.stderr
        check(bucket, "hermes", expected)
    # and auto's default selection takes the child with its parent, the active one
    with sqlite3.connect(home / ".hermes" / "state.db") as conn:
        conn.execute(
            "UPDATE sessions SET started_at = started_at + 1e6 WHERE id = ?", (child.parent,)
        )
    r = run_mirror(bucket_args(tmp_path / "auto"), cwd=project)
    assert r.returncode == 0, r.stderr
    check(tmp_path / "auto", "hermes", [parent, child])


def test_default_project_is_the_working_directory_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tcfs_home: Path
) -> None:
    _home, project = setup_home("claude-code", tmp_path, monkeypatch)
    r = run_mirror(["--bucket", str(tmp_path / "b")], cwd=project)
    assert r.returncode == 0, r.stderr
    assert SessionReader(LocalStore(tmp_path / "b", project.name)).sessions("claude-code")
    assert not SessionReader(LocalStore(tmp_path / "b", "default")).sessions("claude-code")


# ----------------------------------------------------------- the redaction corpus


def corpus() -> list[str]:
    """Every line the six harnesses wrote: JSONL lines and SQLite text values."""
    lines: list[str] = []
    for path in sorted(FIXTURES.rglob("*")):
        if path.suffix == ".jsonl" or path.name.endswith(".meta.json"):
            lines.extend(path.read_text().splitlines())
        elif path.suffix in (".db", ".sqlite"):
            with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
                tables = [
                    r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")
                ]
                for table in tables:
                    for row in conn.execute(f'SELECT * FROM "{table}"'):
                        lines.extend(v for v in row if isinstance(v, str))
    return lines


def test_real_lines_come_through_redaction_untouched() -> None:
    lines = corpus()
    assert len(lines) > 200
    data = "\n".join(lines).encode() + b"\n"
    out, counts = redact(data)
    changed = [a for a, b in zip(data.splitlines(), out.splitlines(), strict=True) if a != b]
    assert counts == {} and not changed, changed[:3]


@pytest.mark.parametrize(("kind", "secret", "planted"), SECRETS + JSON_SECRETS)
def test_a_secret_planted_in_a_real_line_is_caught(kind: str, secret: str, planted: object) -> None:
    for line in corpus()[::37]:
        try:
            doc = json.loads(line)
        except ValueError:
            continue
        if not isinstance(doc, dict):
            continue
        doc["planted"] = planted
        out, counts = redact(json.dumps(doc).encode() + b"\n")
        assert secret.encode() not in out and counts.get(kind, 0) >= 1, (kind, out[:300])
        json.loads(out)


def test_fixtures_hold_no_machine_path() -> None:
    machine = re.compile(rb"(?<![\w.])(?:/tmp/|/root/|/work/(?!proj))|pytest-of-")
    for path in FIXTURES.rglob("*"):
        if path.is_file():
            found = machine.search(path.read_bytes())
            assert found is None, (path, found)
