"""Real session files as committed fixtures: captured from a conformance run,
relocated to a neutral root, and relocated back under a test's HOME.

Only the files that hold sessions are kept (per harness, :data:`KEEP`); a
SQLite store is rebuilt with only its session tables, every text value (and
every zstd-compressed event, recompressed) moved from one root to the other,
so paths, cwd filters and Claude Code's folder names stay consistent.
"""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import zstandard

from tcfs.mirror.adapters.claude_code import encode_cwd
from tests.support.machine import REPO

FIXTURES = REPO / "tests" / "mirror" / "real"
#: the harnesses with real fixture sessions, one folder each
HARNESSES = sorted(p.name for p in FIXTURES.iterdir() if p.is_dir())
ROOT = "/home/dev"  # the neutral root: HOME is ROOT/home, the project ROOT/work/proj

KEEP: dict[str, tuple[str, ...]] = {
    "claude-code": (".claude/projects/**/*.jsonl", ".claude/projects/**/*.meta.json"),
    "codex": (".codex/sessions/**/*.jsonl",),
    "gemini": (".gemini/tmp/*/chats/**/*.jsonl", ".gemini/tmp/*/.project_root"),
    "opencode": (".local/share/opencode/opencode.db",),
    "openclaw": (".openclaw/agents/*/agent/openclaw-agent.sqlite",),
    "hermes": (".hermes/state.db",),
}
TABLES: dict[str, tuple[str, ...]] = {
    "opencode.db": ("session", "message", "part"),
    "openclaw-agent.sqlite": ("session_windows", "transcript_events"),
    "state.db": ("sessions", "messages"),
}


# Claude Code's per-user temporary directory, where it writes task output files.
CLAUDE_TMP = "/tmp/claude-0/"


def _pairs(old: str, new: str) -> list[tuple[str, str]]:
    """The forms a root takes in stored text: as is, without its leading slash
    (OpenCode stores some paths relative to /), and as Claude Code's folder name."""
    pairs = [(old, new), (old.lstrip("/"), new.lstrip("/")), (encode_cwd(old), encode_cwd(new))]
    if old != ROOT:
        pairs.append((CLAUDE_TMP, f"{new}{CLAUDE_TMP}"))
    return pairs


def _swap(text: str, old: str, new: str) -> str:
    for a, b in _pairs(old, new):
        text = text.replace(a, b)
    return text


def _copy_db(src: Path, dst: Path, tables: tuple[str, ...], old: str, new: str) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    dst.unlink(missing_ok=True)
    source = sqlite3.connect(f"file:{src}?mode=ro", uri=True)
    target = sqlite3.connect(dst)
    try:
        for table in tables:
            # Columns and key only: a harness's CHECK constraints may call SQL
            # functions this Python's SQLite lacks (octet_length).
            info = source.execute(f'PRAGMA table_info("{table}")').fetchall()
            defs = [f'"{c[1]}" {c[2]}' for c in info]
            key = [f'"{c[1]}"' for c in sorted(info, key=lambda c: c[5]) if c[5]]
            if key:
                defs.append(f"PRIMARY KEY ({', '.join(key)})")
            target.execute(f'CREATE TABLE "{table}" ({", ".join(defs)})')
            cur = source.execute(f'SELECT * FROM "{table}"')
            cols = [d[0] for d in cur.description]
            for row in cur:
                values = dict(zip(cols, row, strict=True))
                for k, v in values.items():
                    if isinstance(v, str):
                        values[k] = _swap(v, old, new)
                if isinstance(values.get("event_zstd"), bytes):
                    raw = zstandard.ZstdDecompressor().decompress(
                        values["event_zstd"], max_output_size=values["event_utf8_bytes"]
                    )
                    moved = _swap(raw.decode(), old, new).encode()
                    values["event_zstd"] = zstandard.ZstdCompressor().compress(moved)
                    values["event_utf8_bytes"] = len(moved)
                marks = ", ".join("?" for _ in cols)
                names = ", ".join(f'"{c}"' for c in cols)
                target.execute(
                    f'INSERT INTO "{table}" ({names}) VALUES ({marks})', list(values.values())
                )
        target.commit()
    finally:
        source.close()
        target.close()


def relocate(harness: str, src_home: Path, dst_home: Path, old: str, new: str) -> list[Path]:
    """Copy ``harness``'s session files from one HOME to another, every path
    under root ``old`` rewritten under ``new``; returns the files written."""
    written = []
    old_dir, new_dir = encode_cwd(old), encode_cwd(new)
    for pattern in KEEP[harness]:
        for path in sorted(src_home.glob(pattern)):
            rel = path.relative_to(src_home)
            rel = Path(*(part.replace(old_dir, new_dir) for part in rel.parts))
            dst = dst_home / rel
            if path.name in TABLES:
                _copy_db(path, dst, TABLES[path.name], old, new)
            else:
                dst.parent.mkdir(parents=True, exist_ok=True)
                dst.write_bytes(_swap(path.read_text(), old, new).encode())
            written.append(dst)
    return written


def capture(harness: str, home: Path, root: Path) -> list[Path]:
    """Store a conformance run's sessions as the committed fixture."""
    target = FIXTURES / harness
    shutil.rmtree(target, ignore_errors=True)
    return relocate(harness, home, target / "home", str(root), ROOT)


def install_fixture(harness: str, root: Path) -> tuple[Path, Path]:
    """The committed sessions of ``harness`` under ``root``; returns (HOME, project)."""
    home, project = root / "home", root / "work" / "proj"
    project.mkdir(parents=True, exist_ok=True)
    relocate(harness, FIXTURES / harness / "home", home, ROOT, str(root))
    return home, project
