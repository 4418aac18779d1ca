"""OpenClaw: a native plugin in its gateway (openclaw 2026.9.6).

OpenClaw runs agent turns in its gateway process, and a plugin there gets
typed hooks (docs/plugins/hooks/reference.md): ``before_prompt_build`` may
return ``prependContext``, added to the turn's prompt, and
``before_agent_finalize`` may return ``{"action": "revise", "reason": ...}``,
which makes the embedded runner give the model one more pass with the reason
before it accepts the final answer (at most three per run,
``src/agents/embedded-agent-runner/run/terminal-resolution.ts``), but not
once a tool ran in the turn ("requested revision after potential side
effects; finalizing"): then the plugin does not ask, and the mail comes,
still unread, with the next prompt.  tcfs's
plugin (``openclaw_plugin/``) runs tcfs's own hook entry point for each,
killed after 2 s, and on any failure lets the turn go on; a session's first
prompt (no earlier assistant message) gets the session start's context;
``before_tool_call`` on the file-editing tools (``write``, ``edit``,
``apply_patch``) returns ``{"block": true, "blockReason": ...}`` for a file
another agent has reserved.

Installing writes the plugin directory ``extensions/tcfs/`` in OpenClaw's
state directory (``$OPENCLAW_STATE_DIR``, ``~/.openclaw``), where OpenClaw
discovers plugins: ``index.js``, a plugin file tcfs owns whole
(``pluginfile``) with the command for each event, and beside it the manifest
``openclaw.plugin.json`` and ``package.json``; then, as the consent OpenClaw
asks for, the entry ``plugins.entries.tcfs`` in ``openclaw.json``
(``$OPENCLAW_CONFIG_PATH``) that enables it and grants the conversation
access those hooks need (and ``tcfs`` in ``plugins.allow`` when the user
keeps an allowlist).  Every
other byte of the config stays as it was; a config that is not plain JSON
(OpenClaw also reads JSON5) is refused.  OpenClaw has one config for all
projects: there is no project scope.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from importlib import resources
from pathlib import Path

from tcfs.hooks import hookfile, jsonedit, pluginfile
from tcfs.hooks.harness import Harness, JSONObject, claude_style, home_dir
from tcfs.hooks.hookfile import SettingsError
from tcfs.hooks.instructions import SLICED_WAITS

PLUGIN_ID = "tcfs"
#: our event -> the OpenClaw hook that makes the call
EVENTS = {
    "session-start": "before_prompt_build (first)",  # a session's first prompt
    "prompt": "before_prompt_build",
    "edit": "before_tool_call",  # on the file-editing tools (the plugin's matcher)
    "stop": "before_agent_finalize",
}
ENTRY = "index.js"  # the plugin file, with the commands
COMPANIONS = ("openclaw.plugin.json", "package.json")  # what OpenClaw needs beside it
PLACEHOLDER = "/* tcfs: commands */ {}"
CONFIG_ENTRY: JSONObject = {"enabled": True, "hooks": {"allowConversationAccess": True}}


def state_dir() -> Path:
    return home_dir("OPENCLAW_STATE_DIR", ".openclaw")


def config_file() -> Path:
    explicit = os.environ.get("OPENCLAW_CONFIG_PATH")
    return Path(explicit) if explicit else state_dir() / "openclaw.json"


def plugin_file() -> Path:
    return state_dir() / "extensions" / PLUGIN_ID / ENTRY


def _template(name: str) -> str:
    return (resources.files("tcfs.hooks") / "openclaw_plugin" / name).read_text(encoding="utf-8")


def _render(commands: Mapping[str, str]) -> str:
    """The plugin's code with tcfs's command for each of our events."""
    return _template(ENTRY).replace(PLACEHOLDER, json.dumps(dict(commands), indent=2), 1)


# ------------------------------------------------------------ openclaw.json


def _root(path: Path, text: str) -> jsonedit.Node:
    try:
        root = jsonedit.parse(text)
    except jsonedit.MalformedJSON as exc:
        raise SettingsError(
            f"{path} is not plain JSON ({exc}); tcfs does not edit JSON5: add the entry "
            f'"plugins": {{"entries": {{"{PLUGIN_ID}": {json.dumps(CONFIG_ENTRY)}}}}} yourself, '
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
        if ours.value == CONFIG_ENTRY:
            return text
        text = _without_entry(path, text)  # tcfs's entry, as tcfs writes it
        root = _root(path, text)
        entries = _entries(root)
    plugins = root.get("plugins")
    if plugins is None:
        return jsonedit.append(text, root, {"entries": {PLUGIN_ID: CONFIG_ENTRY}}, key="plugins")
    if entries is None:
        return jsonedit.append(text, plugins, {PLUGIN_ID: CONFIG_ENTRY}, key="entries")
    return jsonedit.append(text, entries, CONFIG_ENTRY, key=PLUGIN_ID)


# ------------------------------------------------------------ the consent


def _enable(plugin: Path, granted: bool) -> None:
    """After ``index.js`` was written (or removed): the files OpenClaw needs
    beside it, and the config entry that enables the plugin and lets it see
    the conversation.  A config tcfs will not edit is refused before anything
    else changes, and an ``index.js`` just written goes again, so OpenClaw is
    never left with half a plugin."""
    if not granted and plugin.exists():
        return  # an index.js tcfs did not write: the plugin and its entry are the user's
    config = config_file()
    original = hookfile.read(config)
    try:
        text = _config_text(config, original, granted)
    except SettingsError:
        if granted:
            pluginfile.uninstall(plugin, "openclaw")
            _remove_companions(plugin.parent)
        raise
    if granted:
        for name in COMPANIONS:
            body = _template(name)
            if hookfile.read(plugin.parent / name) != body:
                hookfile.write(plugin.parent / name, body)
    else:
        _remove_companions(plugin.parent)
    if text is not None and text != original:
        hookfile.write(config, text)


def _config_text(config: Path, original: str | None, granted: bool) -> str | None:
    if granted:
        text = original if original is not None and original.strip() else "{}\n"
        return _allowed(config, _with_entry(config, text), True)
    return None if original is None else _without_entry(config, _allowed(config, original, False))


def _remove_companions(directory: Path) -> None:
    for name in COMPANIONS:
        (directory / name).unlink(missing_ok=True)
    try:
        directory.rmdir()  # only when nothing of anyone else's is left in it
    except OSError:
        pass


HARNESS = Harness(
    name="openclaw",
    project_file=None,
    user_file=plugin_file,
    events=EVENTS,
    timeout=2,
    format=claude_style(EVENTS),  # the plugin reads Claude Code's answer shape
    notes="OpenClaw has one config for all projects: the plugin is in extensions/tcfs/ "
    "of its state directory, enabled with conversation access by plugins.entries.tcfs "
    "in its openclaw.json; a running gateway loads it on restart",
    config="plugin",
    consent=_enable,
    plugin=_render,
    shell_notes=SLICED_WAITS,
    instructions_dir=lambda: state_dir() / "workspace",
)
