"""Edit a JSON document as text: add and remove members and elements while every
byte outside the edit stays as it was.

A harness's settings file belongs to its user: re-serializing it would reorder
nothing but could still change its spacing, escapes and number spellings.
So the document is parsed into spans, and an edit splices text in or out.
Inserting an item and then removing it gives back the original bytes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

JSONValue = object  # what json.loads returns; callers check shapes with isinstance
_WS = " \t\n\r"
_SCALARS = json.JSONDecoder()


class MalformedJSON(ValueError):
    """The text is not one JSON document (the message says where)."""


@dataclass
class Node:
    """A value's span ``[start, end)`` and, for containers, its items in order."""

    start: int
    end: int
    value: JSONValue
    items: list[Item] = field(default_factory=list)

    def get(self, key: str) -> Node | None:
        """The member ``key`` of an object (the last one, as json.loads does)."""
        found = [i.node for i in self.items if i.key == key]
        return found[-1] if found else None

    @property
    def is_object(self) -> bool:
        return isinstance(self.value, dict)

    @property
    def is_array(self) -> bool:
        return isinstance(self.value, list)


@dataclass
class Item:
    """An object member (``key`` set, span from its key) or an array element."""

    key: str | None
    start: int
    node: Node

    @property
    def end(self) -> int:
        return self.node.end


def parse(text: str) -> Node:
    """The document's spans; ``MalformedJSON`` with line and column when it is not JSON."""
    try:
        json.loads(text)
    except json.JSONDecodeError as exc:
        raise MalformedJSON(f"{exc.msg} at line {exc.lineno} column {exc.colno}") from None
    node, _ = _value(text, _skip(text, 0))
    return node


def _skip(text: str, i: int) -> int:
    while i < len(text) and text[i] in _WS:
        i += 1
    return i


def _value(text: str, i: int) -> tuple[Node, int]:
    ch = text[i]
    if ch == "{":
        return _container(text, i, "}", keyed=True)
    if ch == "[":
        return _container(text, i, "]", keyed=False)
    value, end = _SCALARS.raw_decode(text, i)
    return Node(i, end, value), end


def _container(text: str, i: int, close: str, *, keyed: bool) -> tuple[Node, int]:
    start, items = i, []
    i = _skip(text, i + 1)
    while text[i] != close:
        item_start = i
        key = None
        if keyed:
            raw, i = _SCALARS.raw_decode(text, i)
            key = str(raw)
            i = _skip(text, _skip(text, i) + 1)  # past the colon
        child, i = _value(text, i)
        items.append(Item(key, item_start, child))
        i = _skip(text, i)
        if text[i] == ",":
            i = _skip(text, i + 1)
    end = i + 1
    value: JSONValue = (
        {it.key: it.node.value for it in items} if keyed else [it.node.value for it in items]
    )
    return Node(start, end, value, items), end


# ---------- layout ----------


def _line_indent(text: str, pos: int) -> str:
    line_start = text.rfind("\n", 0, pos) + 1
    j = line_start
    while j < len(text) and text[j] in " \t":
        j += 1
    return text[line_start:j]


def _indent_unit(text: str) -> str:
    """The document's indentation step (two spaces when it has none)."""
    for line in text.splitlines()[1:]:
        stripped = line.lstrip(" \t")
        if stripped and len(stripped) < len(line):
            return line[: len(line) - len(stripped)]
    return "  "


def _render(text: str, key: str | None, value: JSONValue, indent: str | None) -> str:
    """``value`` (as member ``key``) laid out like the text around it: indented
    lines below ``indent``, or on one line when ``indent`` is None."""
    if indent is None:
        body = json.dumps(value, ensure_ascii=False)
    else:
        body = json.dumps(value, indent=_indent_unit(text), ensure_ascii=False)
        body = body.replace("\n", "\n" + indent)
    return body if key is None else f"{json.dumps(key, ensure_ascii=False)}: {body}"


# ---------- edits ----------


def append(text: str, container: Node, value: JSONValue, key: str | None = None) -> str:
    """``text`` with ``value`` added as the last item of ``container``
    (an object member named ``key``, or an array element).  A container
    written on one line gets the item on that line too."""
    if container.is_object != (key is not None):
        raise ValueError("an object member needs a key; an array element none")
    if container.items:
        last = container.items[-1]
        if "\n" not in text[container.start : last.start]:
            return text[: last.end] + ", " + _render(text, key, value, None) + text[last.end :]
        indent = _line_indent(text, last.start)
        return (
            text[: last.end] + ",\n" + indent + _render(text, key, value, indent) + text[last.end :]
        )
    if "\n" not in text:
        inner = _render(text, key, value, None)
    else:
        own = _line_indent(text, container.start)
        indent = own + _indent_unit(text)
        inner = f"\n{indent}{_render(text, key, value, indent)}\n{own}"
    return text[: container.start + 1] + inner + text[container.end - 1 :]


def remove(text: str, container: Node, index: int) -> str:
    """``text`` without item ``index`` of ``container`` and its separator."""
    items = container.items
    if len(items) == 1:
        return text[: container.start + 1] + text[container.end - 1 :]
    if index == len(items) - 1:
        return text[: items[index - 1].end] + text[items[index].end :]
    return text[: items[index].start] + text[items[index + 1].start :]
