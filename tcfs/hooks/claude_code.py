"""Claude Code: ``SessionStart`` and ``UserPromptSubmit`` add ``additionalContext``;
``Stop`` answers ``{"decision": "block", "reason": ...}`` and is told
``stop_hook_active`` when it already made the agent go on once; ``PreToolUse``
on the file-editing tools denies an edit of a file another agent has reserved
(``hookSpecificOutput.permissionDecision: "deny"`` with the reason, which the
model gets as the tool's result).

Project scope is ``.claude/settings.local.json`` (the per-user, uncommitted
file); ``--user`` is ``~/.claude/settings.json`` (``$CLAUDE_CONFIG_DIR``).
Timeouts are in seconds.
"""

from __future__ import annotations

from tcfs.hooks.harness import Harness, claude_style, home_dir

EVENTS = {
    "session-start": "SessionStart",
    "prompt": "UserPromptSubmit",
    "edit": "PreToolUse",
    "stop": "Stop",
}
#: the file-editing tools the edit event guards (tool_input.file_path, notebook_path)
EDIT_TOOLS = "Edit|Write|MultiEdit|NotebookEdit"

HARNESS = Harness(
    name="claude-code",
    title="Claude Code",
    project_file=".claude/settings.local.json",
    user_file=lambda: home_dir("CLAUDE_CONFIG_DIR", ".claude") / "settings.json",
    events=EVENTS,
    timeout=5,
    format=claude_style(EVENTS),
    matchers={"PreToolUse": EDIT_TOOLS},
)
