"""A reply, rendered in each API's wire format: streamed (SSE events) or whole.

Each ``*_events`` function returns the ``(event name, data)`` pairs of one
streamed reply; each ``*_message`` the body of the same reply unstreamed.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from tests.support.fakemodel.script import JSON, Conversation, Reply, Text, ToolCall

Event = tuple[str | None, JSON]
USAGE_IN, USAGE_OUT = 12, 7


def _id(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:24]}"


def _call(reply: Reply, conv: Conversation) -> tuple[str, str, dict[str, Any]] | None:
    """``(call id, tool name, args)`` when the reply is a tool call."""
    if not isinstance(reply, ToolCall):
        return None
    name = conv.offers(reply.names) or reply.names[0]
    return _id("call_"), name, reply.arguments(conv)


def _text(reply: Reply) -> str:
    return reply.text


# ------------------------------------------------------------ Anthropic Messages


def anthropic_message(reply: Reply, conv: Conversation) -> JSON:
    content: list[JSON] = []
    if _text(reply):
        content.append({"type": "text", "text": _text(reply)})
    call = _call(reply, conv)
    if call:
        content.append(
            {
                "type": "tool_use",
                "id": call[0].replace("call_", "toolu_"),
                "name": call[1],
                "input": call[2],
            }
        )
    return {
        "id": _id("msg_"),
        "type": "message",
        "role": "assistant",
        "model": conv.body.get("model", "fake-model"),
        "content": content,
        "stop_reason": "tool_use" if call else "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": USAGE_IN, "output_tokens": USAGE_OUT},
    }


def anthropic_events(reply: Reply, conv: Conversation) -> list[Event]:
    whole = anthropic_message(reply, conv)
    start = dict(whole, content=[], stop_reason=None)
    start["usage"] = {"input_tokens": USAGE_IN, "output_tokens": 1}
    events: list[Event] = [("message_start", {"type": "message_start", "message": start})]
    for i, block in enumerate(whole["content"]):
        if block["type"] == "text":
            opening: JSON = {"type": "text", "text": ""}
            delta: JSON = {"type": "text_delta", "text": block["text"]}
        else:
            opening = dict(block, input={})
            delta = {"type": "input_json_delta", "partial_json": json.dumps(block["input"])}
        events += [
            (
                "content_block_start",
                {"type": "content_block_start", "index": i, "content_block": opening},
            ),
            ("content_block_delta", {"type": "content_block_delta", "index": i, "delta": delta}),
            ("content_block_stop", {"type": "content_block_stop", "index": i}),
        ]
    events += [
        (
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": whole["stop_reason"], "stop_sequence": None},
                "usage": {"output_tokens": USAGE_OUT},
            },
        ),
        ("message_stop", {"type": "message_stop"}),
    ]
    return events


# ------------------------------------------------------ OpenAI Chat Completions


def chat_message(reply: Reply, conv: Conversation) -> JSON:
    call = _call(reply, conv)
    message: JSON = {"role": "assistant", "content": _text(reply) or None}
    if call:
        message["tool_calls"] = [
            {
                "id": call[0],
                "type": "function",
                "function": {"name": call[1], "arguments": json.dumps(call[2])},
            }
        ]
    return {
        "id": _id("chatcmpl-"),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": conv.body.get("model", "fake-model"),
        "choices": [
            {"index": 0, "message": message, "finish_reason": "tool_calls" if call else "stop"}
        ],
        "usage": {
            "prompt_tokens": USAGE_IN,
            "completion_tokens": USAGE_OUT,
            "total_tokens": USAGE_IN + USAGE_OUT,
        },
    }


def chat_events(reply: Reply, conv: Conversation) -> list[Event]:
    whole = chat_message(reply, conv)
    head = {k: whole[k] for k in ("id", "created", "model")} | {"object": "chat.completion.chunk"}
    message = whole["choices"][0]["message"]

    def chunk(delta: JSON, finish: str | None = None) -> Event:
        return None, head | {"choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}

    events = [chunk({"role": "assistant", "content": ""})]
    if message["content"]:
        events.append(chunk({"content": message["content"]}))
    for i, tc in enumerate(message.get("tool_calls") or []):
        events.append(chunk({"tool_calls": [dict(tc, index=i)]}))
    events.append(chunk({}, whole["choices"][0]["finish_reason"]))
    events.append((None, head | {"choices": [], "usage": whole["usage"]}))
    return events


# ------------------------------------------------------------- OpenAI Responses


def responses_message(reply: Reply, conv: Conversation) -> JSON:
    output: list[JSON] = []
    if _text(reply):
        output.append(
            {
                "type": "message",
                "id": _id("msg_"),
                "status": "completed",
                "role": "assistant",
                "content": [{"type": "output_text", "text": _text(reply), "annotations": []}],
            }
        )
    call = _call(reply, conv)
    if call:
        namespace = conv.namespaces.get(call[1])
        output.append(
            {
                **({"namespace": namespace} if namespace else {}),
                "type": "function_call",
                "id": _id("fc_"),
                "status": "completed",
                "call_id": call[0],
                "name": call[1],
                "arguments": json.dumps(call[2]),
            }
        )
    return {
        "id": _id("resp_"),
        "object": "response",
        "created_at": int(time.time()),
        "status": "completed",
        "model": conv.body.get("model", "fake-model"),
        "output": output,
        "usage": {
            "input_tokens": USAGE_IN,
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens": USAGE_OUT,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": USAGE_IN + USAGE_OUT,
        },
    }


def responses_events(reply: Reply, conv: Conversation) -> list[Event]:
    whole = responses_message(reply, conv)
    pending = dict(whole, status="in_progress", output=[])
    events: list[Event] = [
        ("response.created", {"type": "response.created", "response": pending}),
        ("response.in_progress", {"type": "response.in_progress", "response": pending}),
    ]
    for i, item in enumerate(whole["output"]):
        events.append(
            (
                "response.output_item.added",
                {
                    "type": "response.output_item.added",
                    "output_index": i,
                    "item": dict(item, status="in_progress"),
                },
            )
        )
        if item["type"] == "message":
            text = item["content"][0]["text"]
            events.append(
                (
                    "response.output_text.delta",
                    {
                        "type": "response.output_text.delta",
                        "item_id": item["id"],
                        "output_index": i,
                        "content_index": 0,
                        "delta": text,
                    },
                )
            )
            events.append(
                (
                    "response.output_text.done",
                    {
                        "type": "response.output_text.done",
                        "item_id": item["id"],
                        "output_index": i,
                        "content_index": 0,
                        "text": text,
                    },
                )
            )
        else:
            events.append(
                (
                    "response.function_call_arguments.delta",
                    {
                        "type": "response.function_call_arguments.delta",
                        "item_id": item["id"],
                        "output_index": i,
                        "delta": item["arguments"],
                    },
                )
            )
        events.append(
            (
                "response.output_item.done",
                {"type": "response.output_item.done", "output_index": i, "item": item},
            )
        )
    events.append(("response.completed", {"type": "response.completed", "response": whole}))
    return events


# ------------------------------------------------------------------- Gemini


def gemini_message(reply: Reply, conv: Conversation) -> JSON:
    parts: list[JSON] = []
    if _text(reply):
        parts.append({"text": _text(reply)})
    call = _call(reply, conv)
    if call:
        parts.append({"functionCall": {"id": call[0], "name": call[1], "args": call[2]}})
    return {
        "candidates": [
            {"content": {"role": "model", "parts": parts}, "finishReason": "STOP", "index": 0}
        ],
        "usageMetadata": {
            "promptTokenCount": USAGE_IN,
            "candidatesTokenCount": USAGE_OUT,
            "totalTokenCount": USAGE_IN + USAGE_OUT,
        },
        "modelVersion": "fake-model",
    }


def gemini_events(reply: Reply, conv: Conversation) -> list[Event]:
    return [(None, gemini_message(reply, conv))]


__all__ = [
    "Text",
    "anthropic_events",
    "anthropic_message",
    "chat_events",
    "chat_message",
    "gemini_events",
    "gemini_message",
    "responses_events",
    "responses_message",
]
