"""Hermes: shell hooks in ``$HERMES_HOME/config.yaml`` (``~/.hermes``).

``pre_llm_call`` runs once per turn, before the model is called; a hook that
prints ``{"context": ...}`` has the text appended to the turn's user message,
and its input says ``extra.is_first_turn`` on a session's first turn (then
tcfs answers as at session start); ``pre_tool_call`` on the file-editing
tools answers ``{"decision": "block", "reason": ...}`` for a file another
agent has reserved.  Nothing can hold a turn open at its end,
so mail that arrives during a turn comes with the next one.  Hermes runs a
shell hook only with the user's consent: installing records it in
``shell-hooks-allowlist.json`` beside the config, uninstalling revokes it
(agent/shell_hooks.py).  Hermes has no project-scope config.
"""

from __future__ import annotations

from pathlib import Path

from tcfs.hooks import hookfile, jsonedit, yamlblock
from tcfs.hooks.harness import Answer, Harness, JSONObject, home_dir

EVENTS = {"prompt": "pre_llm_call", "edit": "pre_tool_call"}
#: the file-editing tools the edit event guards (a regex; tool_input.path, or a patch)
EDIT_TOOLS = "^(write_file|patch)$"
ALLOWLIST = "shell-hooks-allowlist.json"


def _format(event: str, answer: Answer) -> JSONObject:
    if event == "edit":
        return {"decision": "block", "reason": answer.deny} if answer.deny else {}
    return {"context": answer.context} if answer.context else {}


def _consent(config: Path, granted: bool) -> None:
    """Hermes's allowlist approves exactly the commands in the config (and no
    earlier tcfs command); its other entries stay as they were."""
    commands = {f.event: f.command for f in yamlblock.find(config, "hermes")} if granted else {}
    path = home_dir("HERMES_HOME", ".hermes") / ALLOWLIST
    text = hookfile.read(path) or '{"approvals": []}\n'
    mark = hookfile.marker("hermes")
    while True:  # first every earlier tcfs approval goes
        root = jsonedit.parse(text)
        approvals = root.get("approvals")
        if approvals is None or not approvals.is_array:
            raise hookfile.SettingsError(f"{path}: no list of approvals; nothing was changed")
        ours = [
            i
            for i, item in enumerate(approvals.items)
            if isinstance(item.node.value, dict)
            and mark.search(str(item.node.value.get("command", "")))
        ]
        if not ours:
            break
        text = jsonedit.remove(text, approvals, ours[0])
    if commands:
        for event, command in commands.items():
            root = jsonedit.parse(text)
            approvals = root.get("approvals")
            assert approvals is not None
            entry = {"event": event, "command": command, "approved_by": "tcfs hooks install"}
            text = jsonedit.append(text, approvals, entry)
    if text != hookfile.read(path):
        hookfile.write(path, text if text.endswith("\n") else text + "\n")


HARNESS = Harness(
    name="hermes",
    project_file=None,
    user_file=lambda: home_dir("HERMES_HOME", ".hermes") / "config.yaml",
    events=EVENTS,
    timeout=5,
    format=_format,
    notes="Hermes has one config for all projects; the hook is approved in its "
    f"{ALLOWLIST}; mail sent during a turn comes with the next one",
    config="yaml",
    consent=_consent,
    matchers={"pre_tool_call": EDIT_TOOLS},
)
