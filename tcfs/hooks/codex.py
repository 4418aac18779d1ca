"""Codex: ``hooks.json`` beside a config layer (``<repo>/.codex/hooks.json``, or
``$CODEX_HOME/hooks.json``) with Claude Code's shape and answers:
``SessionStart`` and ``UserPromptSubmit`` take
``hookSpecificOutput.additionalContext``, ``Stop`` takes
``{"decision": "block", "reason": ...}`` and reports ``stop_hook_active``
(codex-rs/hooks/src/engine/output_parser.rs, events/stop.rs); ``PreToolUse``
takes ``hookSpecificOutput.permissionDecision: "deny"`` with its reason.  Its
group has no matcher, so every tool call asks: the guard finds the files of a
patch, whether ``apply_patch`` or a shell command carries it.  Timeouts are
in seconds.  The older ``notify`` program runs after a turn and cannot put
anything into one.

Codex runs hooks only behind the feature flag ``[features] hooks = true`` and
only once the user trusts each one: ``config.toml`` holds
``[hooks.state."<hooks.json>:<event>:<group>:<handler>"] trusted_hash =
"sha256:..."``, the SHA-256 of the handler's normalized identity as compact
JSON with sorted keys.  Installing is the user's consent: tcfs records the
trust of exactly its handlers (and the flag, when the config has no
``[features]`` of its own) in a marked block of ``$CODEX_HOME/config.toml``.

``codex exec -s workspace-write`` runs commands in a bubblewrap sandbox that
may write only in its writable roots: the mount becomes one through
``[sandbox_workspace_write] writable_roots`` in the project's
``.codex/config.toml`` (the user's with ``--user``).  Codex reads a project's
``.codex/`` (hooks and config) only once the project is trusted:
``[projects."<dir>"] trust_level = "trusted"`` in ``$CODEX_HOME/config.toml``,
which ``--trust`` records.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import TYPE_CHECKING

from tcfs.hooks import claude_code, hookfile, markedblock
from tcfs.hooks.harness import home_dir
from tcfs.hooks.instructions import SLICED_WAITS

if TYPE_CHECKING:
    from tcfs.hooks.grants import Change

#: Codex's own names of the events in a trust key
SNAKE = {
    "SessionStart": "session_start",
    "UserPromptSubmit": "user_prompt_submit",
    "PreToolUse": "pre_tool_use",
    "Stop": "stop",
}
_FEATURES = re.compile(r"^\s*\[features\]|^\s*features\s*\.", re.MULTILINE)


def trusted_hash(event: str, handler: dict[str, object]) -> str:
    identity = {
        "event_name": SNAKE[event],
        "hooks": [
            {
                "async": False,
                "command": handler["command"],
                "timeout": handler["timeout"],
                "type": "command",
            }
        ],
    }
    text = json.dumps(identity, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def _trust(hooks_file: Path, granted: bool) -> None:
    config = home_dir("CODEX_HOME", ".codex") / "config.toml"
    tag = f"codex {hooks_file.resolve()}"
    text = hookfile.read(hooks_file) or ""
    found = hookfile.places(hooks_file, text, "codex") if granted and text.strip() else []
    if not found:
        markedblock.uninstall(config, tag)
        return
    lines = []
    if not _FEATURES.search(markedblock.outside(config, tag)):
        lines += ["[features]\n", "hooks = true\n"]
    for p in found:
        key = json.dumps(f"{hooks_file.resolve()}:{SNAKE[p.event]}:{p.group}:{p.position}")
        lines += [
            f"[hooks.state.{key}]\n",
            f'trusted_hash = "{trusted_hash(p.event, p.handler)}"\n',
        ]
    markedblock.install(config, tag, "".join(lines))


def _config(hooks_file: Path) -> Path:
    """The ``config.toml`` beside a ``hooks.json`` (project or user layer)."""
    return hooks_file.with_name("config.toml")


def access(hooks_file: Path, mountpoint: str) -> list[Change]:
    from tcfs.hooks.grants import TextBlock  # only install needs it

    return [
        TextBlock(
            str(_config(hooks_file)),
            "codex writable root",
            f"[sandbox_workspace_write]\nwritable_roots = [{json.dumps(mountpoint)}]\n",
            f"sandbox_workspace_write.writable_roots: {mountpoint} (workspace-write may write "
            f"there) in {_config(hooks_file)}",
            conflict=r"^\s*\[sandbox_workspace_write\]|^\s*sandbox_workspace_write\s*\.",
        )
    ]


def trust(project: Path) -> list[Change]:
    from tcfs.hooks.grants import TextBlock  # only install needs it

    key = json.dumps(str(project))
    return [
        TextBlock(
            str(home_dir("CODEX_HOME", ".codex") / "config.toml"),
            f"codex trust {project}",
            f'[projects.{key}]\ntrust_level = "trusted"\n',
            f"Codex trusts {project} (its hooks and .codex/config.toml are read)",
            conflict=rf"^\s*\[projects\.{re.escape(key)}\]",
        )
    ]


HARNESS = claude_code.HARNESS._replace(
    name="codex",
    # PreToolUse without a matcher: every tool call asks, the guard finds the
    # files of a patch (apply_patch, or a shell command carrying one)
    matchers={},
    project_file=".codex/hooks.json",
    user_file=lambda: home_dir("CODEX_HOME", ".codex") / "hooks.json",
    consent=_trust,
    notes="Codex runs hooks behind `[features] hooks = true` and only once trusted: both are "
    "recorded in $CODEX_HOME/config.toml (a config with its own [features] needs "
    "`hooks = true` there by hand)",
    access=access,
    trust=trust,
    headless="run `codex exec -s workspace-write PROMPT`; its shell tool returns after 10 s, "
    "so the agent polls a long `wait` (`tcfs instructions codex` says how)",
    shell_notes=SLICED_WAITS,
)
