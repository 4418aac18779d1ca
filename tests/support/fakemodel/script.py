"""What the fake model answers: replies, the rules that pick them, and the
API-neutral view of a request the rules match on."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

JSON = dict[str, Any]


@dataclass(frozen=True)
class Text:
    """A plain assistant reply."""

    text: str


@dataclass(frozen=True)
class ToolCall:
    """A call of the first tool the request declares among ``names``.

    Harnesses name their shell and subagent tools differently (``Bash``,
    ``shell``, ``run_shell_command``, ``task``...), so a rule lists every
    acceptable name and the reply uses the one this request offers.  ``args``
    is the call's input object, or a function of the conversation that builds
    it (to name an id the harness returned); ``text`` optionally precedes it.
    """

    names: tuple[str, ...]
    args: Mapping[str, Any] | Callable[[Conversation], Mapping[str, Any]]
    text: str = ""

    def arguments(self, conv: Conversation) -> dict[str, Any]:
        return dict(self.args(conv) if callable(self.args) else self.args)


Reply = Text | ToolCall


@dataclass(frozen=True)
class Conversation:
    """The parts of a request, in any API, that a rule can look at."""

    api: str  # "anthropic", "chat", "responses" or "gemini"
    tools: tuple[str, ...]  # the tool names the request declares
    last: str  # the text of the last message: a prompt, or a tool result
    texts: tuple[str, ...]  # the text of every message, oldest first
    body: JSON
    #: tool name -> the namespace it is declared in (Responses ``namespace`` tools)
    namespaces: Mapping[str, str] = field(default_factory=dict)

    def offers(self, names: Sequence[str]) -> str | None:
        """The first of ``names`` this request declares as a tool."""
        return next((n for n in names if n in self.tools), None)


Matcher = Callable[[Conversation], bool]


def contains(marker: str) -> Matcher:
    """Matches when the last message (prompt or tool result) holds ``marker``."""
    return lambda conv: marker in conv.last


@dataclass
class Rule:
    when: Matcher
    reply: Reply
    times: int | None = None  # how often it may answer; None: always
    used: int = 0


@dataclass
class Script:
    """Rules tried in order; the first that matches and can answer wins.

    A ToolCall rule answers only a request that declares one of its tools, so
    side requests a harness makes (titles, summaries, quota probes) fall
    through to ``fallback``.  Rules look at the conversation itself, not at a
    request counter, so retries and extra requests do not shift the script.
    """

    rules: list[Rule] = field(default_factory=list)
    fallback: Reply = Text("ok")
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def on(self, marker: str | Matcher, reply: Reply, *, times: int | None = None) -> Script:
        when = contains(marker) if isinstance(marker, str) else marker
        self.rules.append(Rule(when, reply, times))
        return self

    def answer(self, conv: Conversation) -> Reply:
        with self._lock:
            for rule in self.rules:
                if rule.times is not None and rule.used >= rule.times:
                    continue
                if isinstance(rule.reply, ToolCall) and conv.offers(rule.reply.names) is None:
                    continue
                if rule.when(conv):
                    rule.used += 1
                    return rule.reply
            return self.fallback


# ------------------------------------------------------------ reading requests


def _text_of(value: Any) -> str:
    """Every string inside a message's content, joined: good enough to match on."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "\n".join(_text_of(v) for v in value)
    if isinstance(value, dict):
        for key in ("text", "content", "output", "response", "result"):
            if key in value:
                return _text_of(value[key])
        return json.dumps(value, sort_keys=True)
    return "" if value is None else str(value)


def _since_model(msgs: list[JSON], model_role: str = "assistant") -> str:
    """The text of every message after the model's last one: the prompt or tool
    results it is answering (harnesses add context as separate messages)."""
    tail: list[str] = []
    for m in reversed(msgs):
        if m.get("role") == model_role:
            break
        tail.append(_text_of(m.get("content", m.get("parts"))))
    return "\n".join(reversed(tail))


def anthropic_conversation(body: JSON) -> Conversation:
    # Newer Claude Code versions put system text in ``messages`` too.
    msgs = [m for m in body.get("messages") or [] if m.get("role") != "system"]
    texts = tuple(_text_of(m.get("content")) for m in msgs)
    tools = tuple(t.get("name", "") for t in body.get("tools") or [])
    return Conversation("anthropic", tools, _since_model(msgs), texts, body)


def chat_conversation(body: JSON) -> Conversation:
    msgs = [m for m in body.get("messages") or [] if m.get("role") not in ("system", "developer")]
    texts = tuple(_text_of(m.get("content")) for m in msgs)
    tools = tuple(
        (t.get("function") or {}).get("name", t.get("name", "")) for t in body.get("tools") or []
    )
    return Conversation("chat", tools, _since_model(msgs), texts, body)


_MODEL_ITEMS = ("function_call", "custom_tool_call", "local_shell_call", "reasoning")


def responses_conversation(body: JSON) -> Conversation:
    items = body.get("input")
    if isinstance(items, str):
        items = [{"type": "message", "role": "user", "content": items}]
    texts = tuple(
        _text_of(i.get("output", i.get("content")))
        for i in items or []
        if i.get("type") in ("message", "function_call_output", "custom_tool_call_output", None)
        and i.get("role") not in ("system", "developer")
    )
    names: list[str] = []
    namespaces: dict[str, str] = {}
    for t in body.get("tools") or []:
        names.append(t.get("name", ""))
        for inner in t.get("tools") or [] if t.get("type") == "namespace" else []:
            names.append(inner.get("name", ""))
            namespaces[inner.get("name", "")] = t.get("name", "")
    tail: list[str] = []
    for i in reversed(items or []):
        if i.get("role") == "assistant" or i.get("type") in _MODEL_ITEMS:
            break
        if i.get("role") not in ("system", "developer"):
            tail.append(_text_of(i.get("output", i.get("content"))))
    last = "\n".join(reversed(tail))
    return Conversation("responses", tuple(names), last, texts, body, namespaces)


def gemini_conversation(body: JSON) -> Conversation:
    contents = body.get("contents") or []
    texts = tuple(_text_of(c.get("parts")) for c in contents)
    tools = tuple(
        d.get("name", "")
        for t in body.get("tools") or []
        for d in t.get("functionDeclarations") or t.get("function_declarations") or []
    )
    return Conversation("gemini", tools, _since_model(contents, "model"), texts, body)
