"""OpenCode: no command hooks, but plugins, JavaScript modules it loads at
start-up from ``.opencode/plugins/`` in the project (or
``~/.config/opencode/plugins/``); each export is a function of
``{client, directory, ...}`` returning hooks it awaits.

tcfs writes one plugin file (``opencode_plugin.js`` with the hook commands
filled in) that runs tcfs's hook command for each event:

- ``chat.message`` (a prompt becomes a user message; the hook may add parts):
  a session's first prompt gets the session-start context, every other one
  the unread mail, as a synthetic text part of that message;
- ``experimental.text.complete`` (a text of the agent's ends, awaited before
  the turn can end): unread mail is sent into the session as a new user
  message (``client.session.prompt`` with ``noReply``), so the running turn
  goes on with it; once per prompt, so two agents cannot loop;
- ``tool.execute.before`` of the file-editing tools (``edit``, ``write``,
  ``multiedit``, ``apply_patch``): an edit of a file another agent has
  reserved throws, and OpenCode gives the model the error as the tool's result.

``opencode run`` rejects a tool call that touches a path outside the
project unless ``permission.external_directory`` allows it; tcfs allows the
mount alone, in the project's ``opencode.json`` (the user's with ``--user``).

Event names from opencode-ai 1.18.33 (packages/opencode/src/plugin/index.ts,
session/prompt.ts, session/processor.ts; packages/plugin/src/index.ts).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from tcfs.hooks.harness import Answer, Harness, JSONObject, home_dir

if TYPE_CHECKING:
    from tcfs.hooks.grants import Change

EVENTS = {
    "session-start": "chat.message (a session's first)",
    "prompt": "chat.message",
    "edit": "tool.execute.before",
    "stop": "experimental.text.complete",
}
TEMPLATE = Path(__file__).with_name("opencode_plugin.js")


def _format(event: str, answer: Answer) -> JSONObject:
    """The plugin's own answer: ``context`` for a prompt, ``continue`` at turn
    end, ``deny`` before an edit."""
    out: JSONObject = {}
    if answer.deny:
        out["deny"] = answer.deny
    if answer.context:
        out["context"] = answer.context
    if answer.block:
        out["continue"] = answer.block
    if answer.notice:
        out["notice"] = answer.notice
    return out


def plugin(commands: Mapping[str, str]) -> str:
    text = TEMPLATE.read_text(encoding="utf-8")
    return text.replace("__TCFS_COMMANDS__", json.dumps(dict(commands), indent=2), 1)


def access(plugin_file: Path, mountpoint: str) -> list[Change]:
    from tcfs.hooks.grants import JsonMember  # only install needs it

    # .opencode/plugins/tcfs.js -> opencode.json; ~/.config/opencode/plugins/tcfs.js -> beside
    base = plugin_file.parent.parent
    config = base.parent if base.name == ".opencode" else base
    return [
        JsonMember(
            str(config / "opencode.json"),
            ("permission", "external_directory"),
            pattern,
            "allow",
            f"permission.external_directory: {pattern} allowed",
        )
        for pattern in (mountpoint, f"{mountpoint}/**")
    ]


HARNESS = Harness(
    name="opencode",
    project_file=".opencode/plugins/tcfs.js",
    user_file=lambda: home_dir("XDG_CONFIG_HOME", ".config") / "opencode" / "plugins" / "tcfs.js",
    events=EVENTS,
    timeout=2,
    format=_format,
    notes="OpenCode loads plugins when it starts: restart a running OpenCode",
    config="plugin",
    plugin=plugin,
    confirms=True,
    access=access,
    headless="run `opencode run PROMPT`",
)
