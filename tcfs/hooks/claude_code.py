"""Claude Code: ``SessionStart`` and ``UserPromptSubmit`` add ``additionalContext``;
``Stop`` answers ``{"decision": "block", "reason": ...}`` and is told
``stop_hook_active`` when it already made the agent go on once.

Project scope is ``.claude/settings.local.json`` (the per-user, uncommitted
file); ``--user`` is ``~/.claude/settings.json`` (``$CLAUDE_CONFIG_DIR``).
Timeouts are in seconds.
"""

from __future__ import annotations

from tcfs.hooks.harness import Harness, claude_style, home_dir

EVENTS = {"session-start": "SessionStart", "prompt": "UserPromptSubmit", "stop": "Stop"}

HARNESS = Harness(
    name="claude-code",
    title="Claude Code",
    project_file=".claude/settings.local.json",
    user_file=lambda: home_dir("CLAUDE_CONFIG_DIR", ".claude") / "settings.json",
    events=EVENTS,
    timeout=5,
    format=claude_style(EVENTS),
)
