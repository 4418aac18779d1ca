"""OpenAI Codex CLI: ``$CODEX_HOME/sessions/YYYY/MM/DD/rollout-<time>-<id>.jsonl``.

``$CODEX_HOME`` defaults to ``~/.codex``; archived rollouts sit flat in
``archived_sessions/``.  Idle rollouts may be compressed to ``.jsonl.zst``
(the plain file is deleted) and resuming one writes a plain file again: the
stream is keyed by the thread id, the plain file is authoritative while it
exists, and a file that holds the same bytes is a rename, not new data (the
cursor's CRC of the consumed prefix proves it).  The session's cwd comes from
the ``session_meta`` first line; a ``spawn_agent`` child is a rollout of its
own whose ``session_meta.parent_thread_id`` names the parent thread.

Checked against openai/codex ``codex-rs/rollout/src/recorder.rs`` (a new
thread's file is created at its first persist, ``resume`` reopens the same
file), ``codex-rs/rollout/src/compression.rs`` (idle ``.jsonl.zst``) and the
rollouts Codex 0.169.0 wrote in the conformance suite.
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
import re
from collections.abc import Hashable
from pathlib import Path
from typing import BinaryIO

from tcfs.mirror import tail
from tcfs.mirror.adapters import register
from tcfs.mirror.adapters.base import FileTailAdapter, SessionRef, mtime, safe_id, same_dir

_ROLLOUT = re.compile(
    r"rollout-\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}-(?P<id>[A-Za-z0-9_-]+)\.jsonl(?P<zst>\.zst)?$"
)
ZST = ".zst"


def codex_home() -> Path:
    env = os.environ.get("CODEX_HOME")
    return Path(env).expanduser() if env else Path.home() / ".codex"


def _open_zst(path: str) -> BinaryIO:
    import zstandard

    raw = open(path, "rb")  # noqa: SIM115 - closed with the reader
    reader = zstandard.ZstdDecompressor().stream_reader(raw, closefd=True)
    return io.BufferedReader(reader, buffer_size=1 << 20)


def _first_line(path: str) -> bytes:
    try:
        f = _open_zst(path) if path.endswith(ZST) else open(path, "rb")  # noqa: SIM115
        with f:
            return f.readline(1 << 20).rstrip(b"\r\n")
    except (OSError, ValueError):
        return b""
    except Exception:  # zstandard.ZstdError: a damaged archive is skipped
        return b""


@register
class Codex(FileTailAdapter):
    name = "codex"

    def __init__(self) -> None:
        self._meta: dict[str, tuple[str | None, str | None]] = {}  # path -> (cwd, parent)

    def _rollouts(self) -> list[Path]:
        home = codex_home()
        found: list[Path] = []
        for pattern in ("*/*/*/rollout-*.jsonl", "*/*/*/rollout-*.jsonl.zst"):
            found.extend((home / "sessions").glob(pattern))
        for pattern in ("rollout-*.jsonl", "rollout-*.jsonl.zst"):
            found.extend((home / "archived_sessions").glob(pattern))
        return found

    def _session_meta(self, path: str) -> tuple[str | None, str | None]:
        if path not in self._meta:
            cwd = parent = None
            try:
                rec = json.loads(_first_line(path))
                payload = rec.get("payload") if rec.get("type") == "session_meta" else None
                if isinstance(payload, dict):
                    cwd = payload.get("cwd") if isinstance(payload.get("cwd"), str) else None
                    p = payload.get("parent_thread_id")
                    parent = p if isinstance(p, str) else None
            except (ValueError, AttributeError):
                pass
            if cwd is not None:  # a file still being created is asked again next time
                self._meta[path] = (cwd, parent)
            return cwd, parent
        return self._meta[path]

    def discover(self, cwd: Path | None) -> list[SessionRef]:
        best: dict[str, Path] = {}
        for path in self._rollouts():
            m = _ROLLOUT.search(path.name)
            if not m:
                continue
            sid = m.group("id")
            cur = best.get(sid)
            # plain beats compressed; then the live tree beats the archive; then newest
            rank = (m.group("zst") is None, "archived_sessions" not in path.parts, mtime(path))
            if cur is None or rank > _rank(cur):
                best[sid] = path
        refs = []
        for sid, path in best.items():
            where, parent = self._session_meta(str(path))
            if cwd is not None and not same_dir(where, cwd):
                continue
            refs.append(
                SessionRef(
                    harness=self.name,
                    session_id=safe_id(sid),
                    source=str(path),
                    cwd=where,
                    updated_at=mtime(path),
                    parent_id=None if parent is None else safe_id(parent),
                )
            )
        return refs

    def locate(self, session: SessionRef) -> str | None:
        plain = session.source[: -len(ZST)] if session.source.endswith(ZST) else session.source
        for candidate in (plain, plain + ZST):
            if os.path.exists(candidate):
                return candidate
        return None

    def probe(self, session: SessionRef) -> Hashable:
        if session.source.endswith(ZST):  # a resumed thread brings a plain file back
            plain = session.source[: -len(ZST)]
            if os.path.exists(plain):
                return super().probe(dataclasses.replace(session, source=plain))
        return super().probe(session)

    def opener(self, path: str) -> tail.Opener | None:
        return _open_zst if path.endswith(ZST) else None


def _rank(path: Path) -> tuple[bool, bool, float]:
    return (not path.name.endswith(ZST), "archived_sessions" not in path.parts, mtime(path))
