"""Claude Code: ``<config>/projects/<encoded cwd>/<session id>.jsonl``.

The config directory is ``$CLAUDE_CONFIG_DIR`` or ``~/.claude``.  The folder
name is the cwd with every UTF-16 unit that is not ``[A-Za-z0-9]`` replaced by
``-``; past 200 characters it is cut and suffixed with ``-`` and a base-36
hash of the cwd (the CLI's own rule).  Subagent transcripts
(``<id>/subagents/agent-<agent>.jsonl``, or ``agent-*.jsonl`` beside the
sessions in older versions) are streams of their own, named
``<session id>__agent-<agent>``, never top-level sessions.

Claude Code is closed source: checked against the files Claude Code 2.1.332
wrote in the conformance suite (``--continue`` appends to the session's
file; an ``Agent`` subagent writes ``<id>/subagents/agent-<agent>.jsonl`` and
its ``.meta.json``).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from tcfs.mirror.adapters import register
from tcfs.mirror.adapters.base import FileTailAdapter, SessionRef, first_line, mtime, safe_id

MAX_DIR = 200
_B36 = "0123456789abcdefghijklmnopqrstuvwxyz"


def _js_hash(text: str) -> int:
    """``x = (x << 5) - x + c | 0`` over code points, ``c`` the first UTF-16 unit."""
    x = 0
    for ch in text:
        c = ord(ch)
        if c > 0xFFFF:
            c = 0xD800 + ((c - 0x10000) >> 10)
        x = ((x << 5) - x + c) & 0xFFFFFFFF
    return x - (1 << 32) if x >= (1 << 31) else x


def _base36(n: int) -> str:
    out = ""
    while True:
        n, r = divmod(n, 36)
        out = _B36[r] + out
        if n == 0:
            return out


def encode_cwd(cwd: str) -> str:
    """The project folder name Claude Code uses for ``cwd``."""
    units = cwd.encode("utf-16-le")
    chars = []
    for i in range(0, len(units), 2):
        u = units[i] | (units[i + 1] << 8)
        chars.append(chr(u) if u < 128 and chr(u).isalnum() else "-")
    s = "".join(chars)
    if len(s) <= MAX_DIR:
        return s
    return s[:MAX_DIR] + "-" + _base36(abs(_js_hash(cwd)))


def config_dir() -> Path:
    env = os.environ.get("CLAUDE_CONFIG_DIR")
    return Path(env).expanduser() if env else Path.home() / ".claude"


@register
class ClaudeCode(FileTailAdapter):
    name = "claude-code"

    def _project_dirs(self, cwd: Path | None) -> list[Path]:
        root = config_dir() / "projects"
        if cwd is None:
            try:
                return sorted(p for p in root.iterdir() if p.is_dir())
            except OSError:
                return []
        out: list[Path] = []
        for form in dict.fromkeys([os.path.abspath(cwd), os.path.realpath(cwd)]):
            enc = encode_cwd(form)
            if (root / enc).is_dir():
                out.append(root / enc)
            elif len(enc) > MAX_DIR:  # the hash differs between builds: match the prefix
                out.extend(p for p in root.glob(enc[:MAX_DIR] + "-*") if p.is_dir())
        return list(dict.fromkeys(out))

    def discover(self, cwd: Path | None) -> list[SessionRef]:
        refs: list[SessionRef] = []
        where = str(cwd) if cwd is not None else None
        for pdir in self._project_dirs(cwd):
            for path in sorted(pdir.glob("*.jsonl")):
                if path.name.startswith("agent-"):
                    parent = _session_of(path) or "unknown"
                    refs.append(self._ref(path, f"{parent}__{path.stem}", where, parent))
                else:
                    refs.append(self._ref(path, path.stem, where, None))
            for path in sorted(pdir.glob("*/subagents/agent-*.jsonl")):
                parent = path.parent.parent.name
                refs.append(self._ref(path, f"{parent}__{path.stem}", where, safe_id(parent)))
        return refs

    def _ref(self, path: Path, sid: str, cwd: str | None, parent: str | None) -> SessionRef:
        return SessionRef(
            harness=self.name,
            session_id=safe_id(sid),
            source=str(path),
            cwd=cwd,
            updated_at=mtime(path),
            parent_id=parent,
        )


def _session_of(path: Path) -> str | None:
    try:
        rec = json.loads(first_line(path))
    except ValueError:
        return None
    sid = rec.get("sessionId") if isinstance(rec, dict) else None
    return safe_id(sid) if isinstance(sid, str) and sid else None
