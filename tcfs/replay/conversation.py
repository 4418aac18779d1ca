"""A transcript as a conversation: who said what, per harness format.

Each mirrored line becomes zero or more entries ``{i, role, text, tool}``:
``i`` is the line's index (the viewer shows that raw line on request), and
``role`` is one of ``user``, ``assistant``, ``tool_call``, ``tool_result``,
``system`` or ``other`` (bookkeeping lines: ``text`` is then just their type).
The line formats are the ones the mirror's adapters write (the harnesses' own
JSONL, one database row or event per line for the SQLite harnesses).

Everything here is untrusted bucket content: it is only ever parsed as JSON
and reaches the page as text.  A line that is not JSON, or not the shape
expected, becomes an ``other`` entry; nothing raises.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from tcfs import harnesses

#: an entry's text is cut here; the whole of it is in the raw line
TEXT_LIMIT = 4000

Rows = Iterator[tuple[str, str, str | None]]  # (role, text, tool) for one line


@dataclass(frozen=True)
class Entry:
    i: int
    role: str
    text: str
    tool: str | None = None

    def to_json(self) -> dict[str, object]:
        doc: dict[str, object] = {"i": self.i, "role": self.role, "text": self.text}
        if self.tool:
            doc["tool"] = self.tool
        return doc


def _cut(text: str) -> str:
    if len(text) <= TEXT_LIMIT:
        return text
    return f"{text[:TEXT_LIMIT]}… ({len(text) - TEXT_LIMIT} more characters in the raw line)"


def _str(value: object) -> str:
    """Text as it is; anything else as compact JSON."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def _text(content: object) -> str:
    """The text of a message's content: a string, or the text of its blocks."""
    if isinstance(content, str):
        return content
    if isinstance(content, dict):
        return _text(content.get("text", content.get("content")))
    if isinstance(content, list):
        return "\n".join(t for block in content if (t := _text(block)))
    return ""


def _kind(doc: dict[str, Any]) -> str:
    return _str(doc.get("type") or doc.get("customType") or "line")


def _dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


# ---------------------------------------------------------------- per harness


class _Claude:
    """Claude Code: ``user`` and ``assistant`` lines carry Anthropic messages;
    a tool result names its call only by id, so calls are remembered."""

    def __init__(self) -> None:
        self.tools: dict[str, str] = {}

    def rows(self, doc: dict[str, Any]) -> Rows:
        kind = doc.get("type")
        content = _dict(doc.get("message")).get("content")
        if kind == "user":
            speaker = "system" if doc.get("isMeta") or doc.get("isCompactSummary") else "user"
            if isinstance(content, str):
                yield speaker, content, None
                return
            for block in _list(content):
                block = _dict(block)
                if block.get("type") == "tool_result":
                    tool = self.tools.get(_str(block.get("tool_use_id")))
                    yield "tool_result", _text(block.get("content")), tool
                elif block.get("type") == "text":
                    yield speaker, _str(block.get("text")), None
                else:
                    yield "other", _str(block.get("type")), None
        elif kind == "assistant":
            for block in _list(content):
                block = _dict(block)
                if block.get("type") == "text":
                    yield "assistant", _str(block.get("text")), None
                elif block.get("type") == "tool_use":
                    name = _str(block.get("name"))
                    self.tools[_str(block.get("id"))] = name
                    yield "tool_call", _str(block.get("input")), name
                else:
                    yield "other", _str(block.get("type")), None
        elif kind == "system":
            yield "system", _str(doc.get("content") or doc.get("subtype")), None
        elif kind == "summary":
            yield "system", _str(doc.get("summary")), None
        else:
            yield "other", _kind(doc), None


_CODEX_CALLS = {"function_call", "custom_tool_call", "local_shell_call", "web_search_call"}
_CODEX_OUTPUTS = {"function_call_output", "custom_tool_call_output", "local_shell_call_output"}


class _Codex:
    """Codex: model-visible items are ``response_item`` lines (``event_msg``
    repeats them for the UI, so those stay bookkeeping)."""

    def __init__(self) -> None:
        self.tools: dict[str, str] = {}

    def rows(self, doc: dict[str, Any]) -> Rows:
        payload = _dict(doc.get("payload"))
        item = payload.get("type")
        if doc.get("type") == "compacted":
            yield "system", _str(payload.get("message")), None
        elif doc.get("type") != "response_item":
            yield "other", _str(item or doc.get("type") or "line"), None
        elif item == "message":
            role = payload.get("role")
            speaker = role if role in ("user", "assistant") else "system"
            yield speaker, _text(payload.get("content")), None
        elif item in _CODEX_CALLS:
            name = _str(payload.get("name") or str(item).removesuffix("_call"))
            self.tools[_str(payload.get("call_id"))] = name
            args = payload.get("arguments", payload.get("input", payload.get("action")))
            yield "tool_call", _str(args), name
        elif item in _CODEX_OUTPUTS:
            output = payload.get("output")
            yield (
                "tool_result",
                _text(output) or _str(output),
                self.tools.get(_str(payload.get("call_id"))),
            )
        else:
            yield "other", _str(item or "response_item"), None


class _Gemini:
    """Gemini CLI: one message per line, rewritten under the same id as it
    grows (the second copy adds its tool calls), plus ``$set`` updates."""

    def __init__(self) -> None:
        self.said: dict[str, str] = {}

    def rows(self, doc: dict[str, Any]) -> Rows:
        kind = doc.get("type")
        content = doc.get("content")
        if kind == "user":
            responses = [_dict(b).get("functionResponse") for b in _list(content)]
            calls = [_dict(r) for r in responses if r]
            for call in calls:
                response = _dict(call.get("response"))
                out = response.get("output", response.get("error", response))
                yield "tool_result", _str(out), _str(call.get("name"))
            if not calls:
                yield "user", _text(content), None
        elif kind == "gemini":
            text = _text(content)
            mid = _str(doc.get("id"))
            said = bool(text) and self.said.get(mid) != text
            if said:
                self.said[mid] = text
                yield "assistant", text, None
            calls = _list(doc.get("toolCalls"))
            for call in calls:
                call = _dict(call)
                yield "tool_call", _str(call.get("args")), _str(call.get("name"))
            if not said and not calls:
                yield "other", "gemini (no new text)", None
        elif kind in ("info", "error", "warning"):
            yield "system", _text(content), None
        elif "sessionId" in doc and "type" not in doc:
            yield "other", "session", None
        else:
            yield "other", _str(kind) if kind else next(iter(doc), "line"), None


class _Hermes:
    """Hermes: one ``messages`` row per line, OpenAI chat roles; tool calls
    are a JSON string."""

    def rows(self, doc: dict[str, Any]) -> Rows:
        role = doc.get("role")
        text = _text(doc.get("content"))
        if role == "tool":
            yield "tool_result", text, _str(doc.get("tool_name")) or None
            return
        if text or role != "assistant":
            yield (role if role in ("user", "assistant", "system") else "other"), text, None
        calls = doc.get("tool_calls")
        if isinstance(calls, str):
            try:
                calls = json.loads(calls)
            except ValueError:
                calls = []
        for call in _list(calls):
            fn = _dict(_dict(call).get("function"))
            yield "tool_call", _str(fn.get("arguments")), _str(fn.get("name"))


class _OpenClaw:
    """OpenClaw: ``message`` events hold user, assistant and ``toolResult``
    messages; the rest (session, model changes, custom) are bookkeeping."""

    def rows(self, doc: dict[str, Any]) -> Rows:
        msg = _dict(doc.get("message"))
        role = msg.get("role")
        if doc.get("type") != "message" or not msg:
            yield "other", _kind(doc), None
        elif role == "toolResult":
            yield "tool_result", _text(msg.get("content")), _str(msg.get("toolName")) or None
        elif role == "assistant" and isinstance(msg.get("content"), list):
            for block in msg["content"]:
                block = _dict(block)
                if block.get("type") == "text":
                    yield "assistant", _str(block.get("text")), None
                elif block.get("type") == "toolCall":
                    yield "tool_call", _str(block.get("arguments")), _str(block.get("name"))
                else:
                    yield "other", _str(block.get("type")), None
        elif role in ("user", "assistant", "system"):
            yield role, _text(msg.get("content")), None
        else:
            yield "other", _str(msg.get("customType") or role), None


class _OpenCode:
    """OpenCode: ``part`` rows hold the text and tool calls, ``message`` rows
    the role, written after their parts; a message with a step is the
    model's, which decides the role of parts whose message row is not there."""

    def __init__(self, docs: Sequence[dict[str, Any]]) -> None:
        self.roles: dict[str, str] = {}
        for doc in docs:
            if doc.get("type") == "message":
                self.roles[_str(doc.get("id"))] = _str(_dict(doc.get("data")).get("role"))

    def rows(self, doc: dict[str, Any]) -> Rows:
        data = _dict(doc.get("data"))
        part = data.get("type")
        mid = _str(doc.get("message_id"))
        if doc.get("type") != "part":
            yield "other", f"{_kind(doc)} {_str(data.get('role'))}".strip(), None
        elif part == "text":
            role = self.roles.get(mid, "user")
            yield ("assistant" if role == "assistant" else "user"), _str(data.get("text")), None
        elif part == "tool":
            state = _dict(data.get("state"))
            name = _str(data.get("tool"))
            yield "tool_call", _str(state.get("input")), name
            if "output" in state or "error" in state:
                yield "tool_result", _str(state.get("output", state.get("error"))), name
        else:
            if part in ("step-start", "step-finish", "reasoning"):
                self.roles.setdefault(mid, "assistant")
            yield "other", _str(part or "part"), None


_Reader = Callable[[dict[str, Any]], Rows]

#: a transcript format (a harness record's ``transcript``) -> the reader of one
#: session, given all its lines
FORMATS: dict[str, Callable[[Sequence[dict[str, Any]]], _Reader]] = {
    "claude": lambda _docs: _Claude().rows,
    "codex": lambda _docs: _Codex().rows,
    "gemini": lambda _docs: _Gemini().rows,
    "hermes": lambda _docs: _Hermes().rows,
    "openclaw": lambda _docs: _OpenClaw().rows,
    "opencode": lambda docs: _OpenCode(docs).rows,
}


def _reader(harness: str, docs: Sequence[dict[str, Any]]) -> _Reader | None:
    try:
        return FORMATS[harnesses.get(harness).transcript](docs)
    except KeyError:  # a harness (bucket content) tcfs does not know
        return None


def _parse(line: str) -> dict[str, Any] | None:
    try:
        doc = json.loads(line)
    except ValueError:
        return None
    return doc if isinstance(doc, dict) else None


def normalize(harness: str, lines: Sequence[str], first: int = 0) -> list[Entry]:
    """The conversation in ``lines`` (line ``first`` of the session onwards)."""
    docs = [_parse(line) for line in lines]
    reader = _reader(harness, [d for d in docs if d is not None])
    out: list[Entry] = []
    for n, doc in enumerate(docs, start=first):
        if doc is None:
            out.append(Entry(n, "other", "not a JSON object"))
            continue
        if reader is None:
            out.append(Entry(n, "other", _kind(doc)))
            continue
        try:
            rows = list(reader(doc))
        except (TypeError, ValueError, AttributeError):  # a shape no harness writes
            rows = []
        if not rows:  # nothing recognizable: still one entry, so the line can be opened
            rows = [("other", _kind(doc), None)]
        out.extend(Entry(n, role, _cut(text), tool or None) for role, text, tool in rows)
    return out
