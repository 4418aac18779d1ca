"""Codex: ``hooks.json`` beside a config layer (``<repo>/.codex/hooks.json``, or
``$CODEX_HOME/hooks.json``) with Claude Code's shape and answers:
``SessionStart`` and ``UserPromptSubmit`` take
``hookSpecificOutput.additionalContext``, ``Stop`` takes
``{"decision": "block", "reason": ...}`` and reports ``stop_hook_active``
(codex-rs/hooks/src/engine/output_parser.rs, events/stop.rs).  Hooks are
behind a feature flag: ``[features] hooks = true`` in ``config.toml``
(``codex_hooks`` in releases before the rename), or ``codex --enable hooks``.
Timeouts are in seconds.  The older ``notify`` program runs after a turn and
cannot put anything into one.
"""

from __future__ import annotations

from tcfs.hooks.harness import Harness, claude_style, home_dir

EVENTS = {"session-start": "SessionStart", "prompt": "UserPromptSubmit", "stop": "Stop"}

HARNESS = Harness(
    name="codex",
    title="Codex",
    project_file=".codex/hooks.json",
    user_file=lambda: home_dir("CODEX_HOME", ".codex") / "hooks.json",
    events=EVENTS,
    timeout=5,
    format=claude_style(EVENTS),
    notes="hooks are behind a feature flag: add `[features]` `hooks = true` to config.toml "
    "(or run `codex --enable hooks`)",
)
