"""Fixture sessions in each harness's real on-disk format.

Each builder writes where the harness itself would (under a test HOME or the
harness's env var) and returns what a test needs to compare against.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import uuid
from pathlib import Path
from typing import Any


def jl(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc, separators=(",", ":")).encode() + b"\n"


def append(path: Path, data: bytes) -> None:
    with open(path, "ab") as f:
        f.write(data)
        f.flush()


# ---------------------------------------------------------------- Claude Code


def claude_dir_name(cwd: str) -> str:
    """Independent re-statement of the CLI's folder rule, for short paths."""
    return "".join(c if c.isascii() and c.isalnum() else "-" for c in cwd)


def claude_line(sid: str, cwd: str, i: int, text: str = "") -> bytes:
    kind = "user" if i % 2 == 0 else "assistant"
    doc: dict[str, Any] = {
        "parentUuid": None if i == 0 else f"{i - 1:08d}-0000-4000-8000-000000000000",
        "isSidechain": False,
        "userType": "external",
        "cwd": cwd,
        "sessionId": sid,
        "version": "2.1.90",
        "gitBranch": "main",
        "type": kind,
        "uuid": f"{i:08d}-0000-4000-8000-000000000000",
        "timestamp": f"2026-05-01T10:{i // 60 % 60:02d}:{i % 60:02d}.000Z",
    }
    if kind == "user":
        doc["message"] = {"role": "user", "content": text or f"step {i}: list files"}
    else:
        doc["requestId"] = f"req_{i:06d}"
        doc["message"] = {
            "id": f"msg_{i:06d}",
            "type": "message",
            "role": "assistant",
            "model": "claude-sonnet-4-5",
            "content": [{"type": "text", "text": text or f"reply {i}"}],
            "usage": {"input_tokens": 12, "cache_read_input_tokens": 9000, "output_tokens": 40},
        }
    return jl(doc)


class ClaudeSession:
    def __init__(self, config: Path, cwd: Path, sid: str | None = None) -> None:
        self.sid = sid or str(uuid.uuid4())
        self.cwd = str(cwd)
        self.dir = config / "projects" / claude_dir_name(self.cwd)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.path = self.dir / f"{self.sid}.jsonl"
        self.n = 0

    def add(self, count: int = 1, text: str = "") -> bytes:
        out = b"".join(claude_line(self.sid, self.cwd, self.n + i, text) for i in range(count))
        self.n += count
        append(self.path, out)
        return out

    def subagent(self, agent: str) -> Path:
        p = self.dir / self.sid / "subagents" / f"agent-{agent}.jsonl"
        p.parent.mkdir(parents=True, exist_ok=True)
        return p


# ---------------------------------------------------------------- Codex


def codex_lines(sid: str, cwd: str, start: int, count: int) -> bytes:
    out = []
    for i in range(start, start + count):
        if i == 0:
            doc = {
                "timestamp": "2026-05-01T10:00:00.000Z",
                "type": "session_meta",
                "payload": {
                    "id": sid,
                    "timestamp": "2026-05-01T10:00:00.000Z",
                    "cwd": cwd,
                    "originator": "codex_cli_rs",
                    "cli_version": "0.140.0",
                    "source": "cli",
                    "model_provider": "openai",
                },
            }
        elif i % 3 == 1:
            doc = {
                "timestamp": f"2026-05-01T10:00:{i % 60:02d}.000Z",
                "type": "response_item",
                "payload": {
                    "type": "function_call",
                    "name": "shell",
                    "arguments": json.dumps({"command": ["ls", f"dir{i}"]}),
                    "call_id": f"call_{i}",
                },
            }
        elif i % 3 == 2:
            doc = {
                "timestamp": f"2026-05-01T10:00:{i % 60:02d}.500Z",
                "type": "response_item",
                "payload": {
                    "type": "function_call_output",
                    "call_id": f"call_{i - 1}",
                    "output": "README.md\n",
                },
            }
        else:
            doc = {
                "timestamp": f"2026-05-01T10:00:{i % 60:02d}.900Z",
                "type": "event_msg",
                "payload": {
                    "type": "token_count",
                    "info": {"total_token_usage": {"input_tokens": 5000 + i}},
                },
            }
        out.append(jl(doc))
    return b"".join(out)


class CodexSession:
    def __init__(
        self, home: Path, cwd: Path, sid: str | None = None, day: str = "2026/05/01"
    ) -> None:
        self.sid = sid or str(uuid.uuid4())
        self.cwd = str(cwd)
        d = home / "sessions" / day
        d.mkdir(parents=True, exist_ok=True)
        self.path = d / f"rollout-{day.replace('/', '-')}T10-00-00-{self.sid}.jsonl"
        self.n = 0

    def add(self, count: int = 1) -> bytes:
        out = codex_lines(self.sid, self.cwd, self.n, count)
        self.n += count
        append(self.path, out)
        return out


# ---------------------------------------------------------------- OpenClaw


def openclaw_lines(sid: str, cwd: str, start: int, count: int) -> bytes:
    out = []
    for i in range(start, start + count):
        if i == 0:
            doc: dict[str, Any] = {
                "type": "session",
                "version": 3,
                "id": sid,
                "timestamp": "2026-04-08T01:03:43.107Z",
                "cwd": cwd,
            }
        else:
            doc = {
                "type": "message",
                "id": f"{i:08x}",
                "parentId": f"{i - 1:08x}" if i > 1 else None,
                "timestamp": "2026-04-08T01:03:50.000Z",
                "message": {
                    "role": "user" if i % 2 else "assistant",
                    "content": [{"type": "text", "text": f"turn {i}"}],
                    "timestamp": 1775610230000 + i,
                },
            }
        out.append(jl(doc))
    return b"".join(out)


OPENCLAW_SCHEMA = """
CREATE TABLE sessions(session_id TEXT PRIMARY KEY, session_key TEXT, created_at INTEGER,
  updated_at INTEGER, transcript_updated_at INTEGER, status TEXT);
CREATE TABLE transcript_events(session_id TEXT, seq INTEGER, event_json TEXT, created_at INTEGER,
  PRIMARY KEY(session_id, seq));
"""


def openclaw_db(state: Path, agent: str = "main") -> Path:
    d = state / "agents" / agent / "agent"
    d.mkdir(parents=True, exist_ok=True)
    path = d / "openclaw-agent.sqlite"
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.executescript(OPENCLAW_SCHEMA)
    conn.close()
    return path


# ---------------------------------------------------------------- Hermes

HERMES_SCHEMA = """
CREATE TABLE sessions(id TEXT PRIMARY KEY, source TEXT NOT NULL, user_id TEXT, model TEXT,
  parent_session_id TEXT, started_at REAL NOT NULL, ended_at REAL, end_reason TEXT,
  message_count INTEGER, title TEXT, cwd TEXT, git_branch TEXT, last_activity_at REAL);
CREATE TABLE messages(id INTEGER PRIMARY KEY AUTOINCREMENT, session_id TEXT NOT NULL,
  role TEXT NOT NULL, content TEXT, tool_call_id TEXT, tool_calls TEXT, tool_name TEXT,
  timestamp REAL NOT NULL, token_count INTEGER, finish_reason TEXT, reasoning TEXT,
  active INTEGER DEFAULT 1, compacted INTEGER DEFAULT 0);
CREATE TABLE state_meta(key TEXT PRIMARY KEY, value TEXT);
"""


def hermes_db(home: Path) -> Path:
    home.mkdir(parents=True, exist_ok=True)
    path = home / "state.db"
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.executescript(HERMES_SCHEMA)
    conn.close()
    return path


def hermes_message(conn: sqlite3.Connection, sid: str, i: int, content: str | None = None) -> None:
    role = ("user", "assistant", "tool")[i % 3]
    conn.execute(
        "INSERT INTO messages(session_id, role, content, tool_call_id, tool_calls, tool_name,"
        " timestamp, token_count) VALUES (?,?,?,?,?,?,?,?)",
        (
            sid,
            role,
            content if content is not None else f"message {i}",
            f"call_{i}" if role == "tool" else None,
            json.dumps(
                [
                    {
                        "id": f"call_{i}",
                        "type": "function",
                        "function": {"name": "terminal", "arguments": "{}"},
                    }
                ]
            )
            if role == "assistant"
            else None,
            "terminal" if role == "tool" else None,
            1777629600.0 + i,
            10 + i,
        ),
    )


def hermes_expected(path: Path, sid: str) -> bytes:
    """The transcript as tracecraft synthesizes it: one json.dumps per row."""
    conn = sqlite3.connect(path)
    conn.row_factory = sqlite3.Row
    rows = conn.execute("SELECT * FROM messages WHERE session_id=? ORDER BY id", (sid,)).fetchall()
    conn.close()
    return b"".join(
        json.dumps(dict(r), default=str, ensure_ascii=False).encode() + b"\n" for r in rows
    )


# ---------------------------------------------------------------- OpenCode

OPENCODE_SCHEMA = """
CREATE TABLE session(id TEXT PRIMARY KEY, project_id TEXT, parent_id TEXT, slug TEXT,
  directory TEXT, title TEXT, version TEXT, time_created INTEGER, time_updated INTEGER);
CREATE TABLE message(id TEXT PRIMARY KEY, session_id TEXT, time_created INTEGER,
  time_updated INTEGER, data TEXT);
CREATE TABLE part(id TEXT PRIMARY KEY, message_id TEXT, session_id TEXT, time_created INTEGER,
  time_updated INTEGER, data TEXT);
"""


def opencode_db(data_home: Path) -> Path:
    d = data_home / "opencode"
    d.mkdir(parents=True, exist_ok=True)
    path = d / "opencode.db"
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.executescript(OPENCODE_SCHEMA)
    conn.close()
    return path


# ---------------------------------------------------------------- Gemini


def gemini_chat(home: Path, cwd: Path, sid: str | None = None) -> tuple[Path, str]:
    sid = sid or str(uuid.uuid4())
    project = home / ".gemini" / "tmp" / "my-app"
    (project / "chats").mkdir(parents=True, exist_ok=True)
    (project / ".project_root").write_text(str(cwd))
    path = project / "chats" / f"session-2026-04-18T10-30-{sid[:8]}.jsonl"
    return path, sid


def gemini_lines(sid: str, start: int, count: int) -> bytes:
    out = []
    for i in range(start, start + count):
        if i == 0:
            doc: dict[str, Any] = {
                "sessionId": sid,
                "projectHash": hashlib.sha256(b"x").hexdigest(),
                "startTime": "2026-04-18T10:30:00.000Z",
                "lastUpdated": "2026-04-18T10:30:00.000Z",
                "kind": "main",
            }
        elif i % 4 == 1:
            doc = {
                "id": f"{i:08d}-c125-4243-9a2c-51f1e31e4ae6",
                "timestamp": "2026-04-18T10:30:05.000Z",
                "type": "user",
                "content": [{"text": f"What is {i}+{i}?"}],
            }
        elif i % 4 == 2:
            doc = {
                "id": f"{i:08d}-0b73-434e-a65d-bb783dab2738",
                "timestamp": "2026-04-18T10:30:07.000Z",
                "type": "gemini",
                "content": [{"text": str(2 * i)}],
                "model": "gemini-2.5-pro",
                "tokens": {
                    "input": 7173,
                    "output": 1,
                    "cached": 0,
                    "thoughts": 17,
                    "tool": 0,
                    "total": 7191,
                },
            }
        elif i % 4 == 3:
            doc = {"$set": {"lastUpdated": "2026-04-18T10:30:07.000Z"}}
        else:
            doc = {"$rewindTo": f"{i - 3:08d}-c125-4243-9a2c-51f1e31e4ae6"}
        out.append(jl(doc))
    return b"".join(out)


def env_for_subprocess() -> dict[str, str]:
    return dict(os.environ)
