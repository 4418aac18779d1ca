"""Codex: ``hooks.json`` beside a config layer (``<repo>/.codex/hooks.json``, or
``$CODEX_HOME/hooks.json``) with Claude Code's shape and answers:
``SessionStart`` and ``UserPromptSubmit`` take
``hookSpecificOutput.additionalContext``, ``Stop`` takes
``{"decision": "block", "reason": ...}`` and reports ``stop_hook_active``
(codex-rs/hooks/src/engine/output_parser.rs, events/stop.rs).  Hooks are
behind a feature flag: ``[features] hooks = true`` in ``config.toml``
(``codex_hooks`` in releases before the rename), or ``codex --enable hooks``,
and a new or changed hook runs only after the user trusts it once (Codex
records a hash of it in ``config.toml``).
Timeouts are in seconds.  The older ``notify`` program runs after a turn and
cannot put anything into one.
"""

from __future__ import annotations

from tcfs.hooks import claude_code
from tcfs.hooks.harness import home_dir

HARNESS = claude_code.HARNESS._replace(
    name="codex",
    title="Codex",
    project_file=".codex/hooks.json",
    user_file=lambda: home_dir("CODEX_HOME", ".codex") / "hooks.json",
    notes="Codex runs hooks behind a feature flag (`[features]` `hooks = true` in config.toml, "
    "or `codex --enable hooks`) and only once you trust them: accept its `Hooks need review` "
    "prompt (or `/hooks`) the next time you start it",
)
