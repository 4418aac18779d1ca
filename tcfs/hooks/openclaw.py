"""OpenClaw: a native plugin in its gateway (openclaw 2026.9.6).

OpenClaw runs agent turns in its gateway process, and a plugin there gets
typed hooks (docs/plugins/hooks/reference.md): ``before_prompt_build`` may
return ``prependContext``, added to the turn's prompt, and
``before_agent_finalize`` may return ``{"action": "revise", "reason": ...}``,
which makes the embedded runner give the model one more pass with the reason
before it accepts the final answer (at most three per run,
``src/agents/embedded-agent-runner/run/terminal-resolution.ts``).  tcfs's
plugin (``openclaw_plugin/``) runs tcfs's own hook entry point for each,
killed after 2 s, and on any failure lets the turn go on; a session's first
prompt (no earlier assistant message) gets the session start's context.

Installing writes the plugin directory ``extensions/tcfs/`` in OpenClaw's
state directory (``$OPENCLAW_STATE_DIR``, ``~/.openclaw``), where OpenClaw
discovers plugins, with ``hooks.json``: the command for each hook; and the
entry ``plugins.entries.tcfs`` in ``openclaw.json`` (``$OPENCLAW_CONFIG_PATH``)
that enables it and grants the conversation access those hooks need (and
``tcfs`` in ``plugins.allow`` when the user keeps an allowlist).  Every
other byte of the config stays as it was; a config that is not plain JSON
(OpenClaw also reads JSON5) is refused.  OpenClaw has one config for all
projects: there is no project scope.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Mapping
from importlib import resources
from pathlib import Path

from tcfs.hooks import hookfile, jsonedit
from tcfs.hooks.harness import Answer, Harness, JSONObject, home_dir
from tcfs.hooks.hookfile import Found, Handler, SettingsError

PLUGIN_ID = "tcfs"
#: our event -> the OpenClaw hook that makes the call
EVENTS = {
    "session-start": "session_start",  # the session's first before_prompt_build
    "prompt": "before_prompt_build",
    "stop": "before_agent_finalize",
}
COMMANDS = "hooks.json"  # in the plugin directory: hook -> {"command": ...}
TEMPLATE = ("openclaw.plugin.json", "package.json", "index.js")
ENTRY: JSONObject = {"enabled": True, "hooks": {"allowConversationAccess": True}}


def state_dir() -> Path:
    return home_dir("OPENCLAW_STATE_DIR", ".openclaw")


def config_file() -> Path:
    explicit = os.environ.get("OPENCLAW_CONFIG_PATH")
    return Path(explicit) if explicit else state_dir() / "openclaw.json"


def plugin_dir() -> Path:
    return state_dir() / "extensions" / PLUGIN_ID


def _format(event: str, answer: Answer) -> JSONObject:
    """What the plugin reads: ``context`` to add, ``continue`` at turn end."""
    out: JSONObject = {}
    if answer.notice:
        out["notice"] = answer.notice
    if event == "stop":
        if answer.block:
            out["continue"] = answer.block
    elif answer.context:
        out["context"] = answer.context
    return out


# ------------------------------------------------------------ openclaw.json


def _root(path: Path, text: str) -> jsonedit.Node:
    try:
        root = jsonedit.parse(text)
    except jsonedit.MalformedJSON as exc:
        raise SettingsError(
            f"{path} is not plain JSON ({exc}); tcfs does not edit JSON5: add the entry "
            f'"plugins": {{"entries": {{"{PLUGIN_ID}": {json.dumps(ENTRY)}}}}} yourself, '
            "nothing was changed"
        ) from None
    if not root.is_object:
        raise SettingsError(f"{path}: the top level is not a JSON object; nothing was changed")
    for where, node in (("plugins", root.get("plugins")), ("plugins.entries", _entries(root))):
        if node is not None and not node.is_object:
            raise SettingsError(f'{path}: "{where}" is not an object; nothing was changed')
    allow = _allow(root)
    if allow is not None and not allow.is_array:
        raise SettingsError(f'{path}: "plugins.allow" is not a list; nothing was changed')
    return root


def _allow(root: jsonedit.Node) -> jsonedit.Node | None:
    """The user's allowlist: when there is one, only the plugins it names load."""
    plugins = root.get("plugins")
    return plugins.get("allow") if plugins is not None and plugins.is_object else None


def _allowed(path: Path, text: str, granted: bool) -> str:
    """``text`` with tcfs in an existing ``plugins.allow`` (or out of it)."""
    while True:
        allow = _allow(_root(path, text))
        if allow is None:
            return text
        ours = [i for i, item in enumerate(allow.items) if item.node.value == PLUGIN_ID]
        if granted:
            return text if ours else jsonedit.append(text, allow, PLUGIN_ID)
        if not ours:
            return text
        text = jsonedit.remove(text, allow, ours[0])


def _entries(root: jsonedit.Node) -> jsonedit.Node | None:
    plugins = root.get("plugins")
    return plugins.get("entries") if plugins is not None and plugins.is_object else None


def _without_entry(path: Path, text: str) -> str:
    """``text`` without ``plugins.entries.tcfs``, and without the containers
    that held only it (so install then uninstall gives the file back)."""
    while True:
        root = _root(path, text)
        plugins, entries = root.get("plugins"), _entries(root)
        if entries is None or entries.get(PLUGIN_ID) is None:
            return text
        assert plugins is not None
        keys = [i.key for i in entries.items]
        if len(keys) > 1:
            text = jsonedit.remove(text, entries, keys.index(PLUGIN_ID))
        elif len(plugins.items) > 1:
            text = jsonedit.remove(text, plugins, [i.key for i in plugins.items].index("entries"))
        else:
            text = jsonedit.remove(text, root, [i.key for i in root.items].index("plugins"))


def _with_entry(path: Path, text: str) -> str:
    root = _root(path, text)
    entries = _entries(root)
    ours = entries.get(PLUGIN_ID) if entries is not None else None
    if ours is not None:
        if ours.value == ENTRY:
            return text
        text = _without_entry(path, text)  # tcfs's entry, as tcfs writes it
        root = _root(path, text)
        entries = _entries(root)
    plugins = root.get("plugins")
    if plugins is None:
        return jsonedit.append(text, root, {"entries": {PLUGIN_ID: ENTRY}}, key="plugins")
    if entries is None:
        return jsonedit.append(text, plugins, {PLUGIN_ID: ENTRY}, key="entries")
    return jsonedit.append(text, entries, ENTRY, key=PLUGIN_ID)


# ------------------------------------------------------ the plugin directory


def _plugin_files(handlers: Mapping[str, Handler]) -> dict[str, str]:
    source = resources.files("tcfs.hooks") / "openclaw_plugin"
    files = {name: (source / name).read_text(encoding="utf-8") for name in TEMPLATE}
    commands = {event: dict(h) for event, h in handlers.items()}
    files[COMMANDS] = json.dumps(commands, indent=2, ensure_ascii=False) + "\n"
    return files


def _written(directory: Path) -> dict[str, str]:
    out = {}
    for name in (*TEMPLATE, COMMANDS):
        text = hookfile.read(directory / name)
        if text is not None:
            out[name] = text
    return out


def install(path: Path, harness: str, handlers: Mapping[str, Handler]) -> bool:
    """The plugin directory and the config entry; False when both were there."""
    original = hookfile.read(path)
    text = original if original is not None and original.strip() else "{}\n"
    text = _allowed(path, _with_entry(path, text), True)  # a config tcfs will not edit stops here
    directory, files = plugin_dir(), _plugin_files(handlers)
    changed = _written(directory) != files
    if changed:
        directory.mkdir(parents=True, exist_ok=True)
        for name, body in files.items():
            hookfile.write(directory / name, body)
    if text != original:
        hookfile.write(path, text)
        changed = True
    return changed


def uninstall(path: Path, harness: str) -> bool:
    """The config entry and the plugin directory go; False when neither was there."""
    original = hookfile.read(path)
    changed = False
    if original is not None:
        text = _without_entry(path, _allowed(path, original, False))
        if text != original:
            hookfile.write(path, text)
            changed = True
    directory = plugin_dir()
    if directory.is_dir():
        shutil.rmtree(directory)  # owned whole by tcfs
        changed = True
    return changed


def find(path: Path, harness: str) -> list[Found]:
    """The hooks the installed plugin calls tcfs for (none unless OpenClaw's
    config enables it)."""
    text = hookfile.read(path)
    if text is None:
        return []
    entries = _entries(_root(path, text))
    if entries is None or entries.get(PLUGIN_ID) is None:
        return []
    raw = hookfile.read(plugin_dir() / COMMANDS)
    try:
        commands = json.loads(raw) if raw else {}
    except ValueError:
        commands = {}
    if not isinstance(commands, dict):
        return []
    return [
        Found(event, str(h["command"]))
        for event, h in commands.items()
        if isinstance(h, dict) and isinstance(h.get("command"), str)
    ]


HARNESS = Harness(
    name="openclaw",
    title="OpenClaw",
    project_file=None,
    user_file=config_file,
    events=EVENTS,
    timeout=2,
    format=_format,
    notes="OpenClaw has one config for all projects; its gateway loads the plugin from "
    f"extensions/{PLUGIN_ID}/ in its state directory (restart a running gateway)",
    config="openclaw",
)
