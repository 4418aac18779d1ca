"""What a harness module declares, and the answer every hook call produces."""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, NamedTuple

from tcfs import harnesses

if TYPE_CHECKING:
    from pathlib import Path

    from tcfs.hooks.grants import Change

#: our hook events, in the order a turn meets them ("edit": before a file-editing tool call)
EVENTS = ("session-start", "prompt", "edit", "stop")


class Answer:
    """What one hook call tells the harness (a plain class: dataclasses cost a
    hook's start-up more than the rest of it)."""

    def __init__(
        self,
        context: str | None = None,
        block: str | None = None,
        notice: str | None = None,
        deny: str | None = None,
    ) -> None:
        self.context = context  # added to the agent's context
        self.block = block  # at turn end: go on, with this as the reason
        self.notice = notice  # one line for the user: what is wrong
        self.deny = deny  # before an edit: refuse the tool call, telling the agent why


JSONObject = dict[str, object]


class Harness(NamedTuple):
    """A harness whose hooks can put text into a turn."""

    name: str  # its record's name (``tcfs.harnesses``), which also gives its title
    project_file: str | None  # relative to the working directory; None: user scope only
    user_file: Callable[[], Path]
    events: Mapping[str, str]  # our event -> the harness's event name
    timeout: int  # the handler's timeout, in the harness's unit
    format: Callable[[str, Answer], JSONObject]  # the JSON the harness reads on stdout
    notes: str = ""  # what else the user must know (feature flags, trust)
    #: the settings file: "json" (``hookfile``), "yaml" (``yamlblock``) or
    #: "plugin" (``pluginfile``: a whole file tcfs owns, the harness's plugin)
    config: str = "json"
    #: after install (True) or uninstall (False) in the given settings file:
    #: record or revoke the user's consent where the harness asks for it
    consent: Callable[[Path, bool], None] | None = None
    #: config "plugin": the file's text below tcfs's marker line, given the
    #: command of each of our events (keyed by our event name)
    plugin: Callable[[Mapping[str, str]], str] | None = None
    #: the caller writes the event as one line and keeps stdin open; once it
    #: has put the answer into the turn it writes ``delivered``, and only then
    #: are the messages marked read (a plugin, not the harness, runs the hook)
    confirms: bool = False
    #: what the harness's safety settings need so its agent may use the mount
    #: from its shell tool, scoped to it: (hook settings file, mountpoint) ->
    #: the changes (``tcfs.hooks.grants``); None: nothing is needed
    access: Callable[[Path, str], list[Change]] | None = None
    #: the project trust the harness needs before it runs project hooks:
    #: project directory -> the changes (``tcfs hooks install --trust``)
    trust: Callable[[Path], list[Change]] | None = None
    #: what the user still decides, said at install (the harness's own mode)
    headless: str = ""
    #: the harness's event name -> the tool-name matcher of its handler's group
    #: (the edit event's file-editing tools)
    matchers: Mapping[str, str] = {}
    #: what its agent must know about its shell tool (a time limit, a
    #: confirmation), added to the instruction file's text; ``{m}``: the mountpoint
    shell_notes: str = ""
    #: where it reads its instruction file, if not in the project directory
    instructions_dir: Callable[[], Path] | None = None

    @property
    def title(self) -> str:
        return harnesses.get(self.name).title

    def config_path(self, *, user: bool, cwd: Path | None = None) -> Path:
        from pathlib import Path

        if user or self.project_file is None:
            return self.user_file()
        return (cwd or Path.cwd()) / self.project_file

    def handler(self, command: str) -> JSONObject:
        if self.config == "yaml":
            return {"command": command, "timeout": self.timeout}
        return {"type": "command", "command": command, "timeout": self.timeout}


def load(name: str) -> Harness:
    """The hooks of the harness ``name`` (KeyError: none), its module imported only now."""
    module = harnesses.get(name).hooks
    if module is None:
        raise KeyError(name)
    harness: Harness = importlib.import_module(module).HARNESS
    return harness


def home_dir(env: str, default: str) -> Path:
    """A harness's home: ``$ENV`` if set, else ``~/default``."""
    from pathlib import Path

    value = os.environ.get(env)
    return Path(value) if value else Path.home() / default


def claude_style(
    names: Mapping[str, str], *, block: str = "block", deny_at_top: bool = False
) -> Callable[[str, Answer], JSONObject]:
    """The answer format Claude Code set and Codex and Gemini CLI follow:
    ``hookSpecificOutput.additionalContext`` adds to the context, and at turn
    end ``{"decision": block, "reason": ...}`` makes the agent go on.  Before
    a tool call, a refusal is ``hookSpecificOutput.permissionDecision: "deny"``
    with its reason (Claude Code, Codex), or, ``deny_at_top``, ``{"decision":
    "deny", "reason": ...}`` (Gemini CLI)."""

    def fmt(event: str, answer: Answer) -> JSONObject:
        out: JSONObject = {}
        if answer.notice:
            out["systemMessage"] = answer.notice
        if event == "edit":
            if answer.deny and deny_at_top:
                out.update(decision="deny", reason=answer.deny)
            elif answer.deny:
                out["hookSpecificOutput"] = {
                    "hookEventName": names[event],
                    "permissionDecision": "deny",
                    "permissionDecisionReason": answer.deny,
                }
        elif event == "stop":
            if answer.block:
                out.update(decision=block, reason=answer.block)
        elif answer.context:
            out["hookSpecificOutput"] = {
                "hookEventName": names[event],
                "additionalContext": answer.context,
            }
        return out

    return fmt
