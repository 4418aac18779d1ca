"""Gemini CLI: ``settings.json`` (``.gemini/settings.json`` in the project, or
``~/.gemini/settings.json``) with Claude Code's shape.  ``SessionStart`` and
``BeforeAgent`` take ``hookSpecificOutput.additionalContext``; ``AfterAgent``
with ``{"decision": "deny", "reason": ...}`` sends the reason to the agent as
a new prompt and reports ``stop_hook_active``; ``BeforeTool`` on the
file-editing tools answers ``{"decision": "deny", "reason": ...}`` for a file
another agent has reserved, and the reason reaches the model as the tool's
error
(packages/core/src/hooks/types.ts, docs/hooks/reference.md).  Timeouts are
in milliseconds.  Project hooks run only in a trusted folder, recorded in
``~/.gemini/trustedFolders.json`` (``--skip-trust`` runs the agent but not
the project's hooks); ``--trust`` records it.  Headless, the shell tool is
offered only with ``--yolo`` (the user's decision: tcfs cannot scope it).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from tcfs.hooks.harness import Harness, claude_style, home_dir

if TYPE_CHECKING:
    from tcfs.hooks.grants import Change

EVENTS = {
    "session-start": "SessionStart",
    "prompt": "BeforeAgent",
    "edit": "BeforeTool",
    "stop": "AfterAgent",
}
#: the file-editing tools the edit event guards (a regex; tool_input.file_path)
EDIT_TOOLS = "write_file|replace"


def trust(project: Path) -> list[Change]:
    from tcfs.hooks.grants import JsonMember  # only install needs it

    folders = home_dir("GEMINI_CLI_HOME", "") / ".gemini" / "trustedFolders.json"
    return [
        JsonMember(str(folders), (), str(project), "TRUST_FOLDER", f"Gemini CLI trusts {project}")
    ]


HARNESS = Harness(
    name="gemini",
    project_file=".gemini/settings.json",
    user_file=lambda: home_dir("GEMINI_CLI_HOME", "") / ".gemini" / "settings.json",
    events=EVENTS,
    timeout=5000,
    format=claude_style(EVENTS, block="deny", deny_at_top=True),
    matchers={"BeforeTool": EDIT_TOOLS},
    notes="project hooks run only in a trusted folder",
    trust=trust,
    headless="run `gemini -p PROMPT --yolo` (headless, no shell tool is offered without it)",
    shell_notes="""\
- **Writing**: if your shell tool asks to confirm a `>` redirection, write through
  `tee` instead: `echo me | tee {m}/steps/<id>/claim >/dev/null` (it fails the
  same way, with "File exists", when another agent holds the step).
""",
)
