"""Claude Code: ``SessionStart`` and ``UserPromptSubmit`` add ``additionalContext``;
``Stop`` answers ``{"decision": "block", "reason": ...}`` and is told
``stop_hook_active`` when it already made the agent go on once; ``PreToolUse``
on the file-editing tools denies an edit of a file another agent has reserved
(``hookSpecificOutput.permissionDecision: "deny"`` with the reason, which the
model gets as the tool's result).

Project scope is ``.claude/settings.local.json`` (the per-user, uncommitted
file); ``--user`` is ``~/.claude/settings.json`` (``$CLAUDE_CONFIG_DIR``).
Timeouts are in seconds.

Headless (``claude -p``) Claude Code lets the shell tool read and write only
in the session's working directories, and asks before a command creates or
changes a file there; a ``>`` redirection into the mount is such a change, and
``Bash(echo:*)``-style rules never cover it.  What covers it, scoped to the
mount, is a pair of path rules in the same settings file: ``Read(//M/**)`` and
``Edit(//M/**)`` (``//`` starts an absolute path in a rule).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from tcfs.hooks.harness import Harness, claude_style, home_dir

if TYPE_CHECKING:
    from tcfs.hooks.grants import Change

EVENTS = {
    "session-start": "SessionStart",
    "prompt": "UserPromptSubmit",
    "edit": "PreToolUse",
    "stop": "Stop",
}
#: the file-editing tools the edit event guards (tool_input.file_path, notebook_path)
EDIT_TOOLS = "Edit|Write|MultiEdit|NotebookEdit"


def access(settings: Path, mountpoint: str) -> list[Change]:
    from tcfs.hooks.grants import JsonMember  # only install needs it

    return [
        JsonMember(
            str(settings),
            ("permissions", "allow"),
            None,
            f"{rule}(/{mountpoint}/**)",
            f"permissions.allow: {rule}(/{mountpoint}/**) ({what} the mount)",
        )
        for rule, what in (("Read", "read"), ("Edit", "write into"))
    ]


HARNESS = Harness(
    name="claude-code",
    project_file=".claude/settings.local.json",
    user_file=lambda: home_dir("CLAUDE_CONFIG_DIR", ".claude") / "settings.json",
    events=EVENTS,
    timeout=5,
    format=claude_style(EVENTS),
    access=access,
    headless="run `claude -p PROMPT` with no permission flags",
    matchers={"PreToolUse": EDIT_TOOLS},
    shell_notes="""\
- **Long waits**: your Bash tool stops a command after 2 minutes; wait in slices
  with `timeout 100 cat {m}/steps/<id>/wait` and run it again until it prints
  (a wait cut short takes nothing).
""",
)
