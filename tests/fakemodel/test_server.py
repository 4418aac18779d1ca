"""The fake model server over real HTTP on 127.0.0.1, in each API's format."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.fakemodel import FakeModel, Script, Text, ToolCall

SHELL = ToolCall(("Bash", "shell", "run_shell_command"), {"command": "ls"})


@pytest.fixture
def model() -> Iterator[FakeModel]:
    script = Script().on("list files", SHELL).on("README.md", Text("two files"))
    with FakeModel(script) as m:
        yield m


def post(model: FakeModel, path: str, body: dict[str, Any]) -> tuple[str, bytes]:
    req = urllib.request.Request(
        model.url + path,
        data=json.dumps(body).encode(),
        headers={
            "content-type": "application/json",
            "x-api-key": "sk-secret-value",
            "authorization": "Bearer sk-secret-value",
            "x-trace": "kept",
        },
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        return resp.headers["content-type"], resp.read()


def sse(raw: bytes) -> list[dict[str, Any]]:
    out = []
    for frame in raw.decode().split("\n\n"):
        for line in frame.splitlines():
            if line.startswith("data: ") and line != "data: [DONE]":
                out.append(json.loads(line[6:]))
    return out


def test_anthropic_streams_a_tool_call_of_an_offered_tool(model: FakeModel) -> None:
    body: dict[str, Any] = {
        "model": "m",
        "stream": True,
        "tools": [{"name": "Bash"}, {"name": "Read"}],
        "messages": [{"role": "user", "content": [{"type": "text", "text": "list files"}]}],
    }
    ctype, raw = post(model, "/v1/messages?beta=true", body)
    assert ctype == "text/event-stream"
    events = sse(raw)
    assert events[0]["type"] == "message_start"
    start = next(e for e in events if e["type"] == "content_block_start")
    assert start["content_block"]["name"] == "Bash"
    delta = next(e for e in events if e["type"] == "content_block_delta")
    assert json.loads(delta["delta"]["partial_json"]) == {"command": "ls"}
    stop = next(e for e in events if e["type"] == "message_delta")
    assert stop["delta"]["stop_reason"] == "tool_use"
    rec = model.answered("anthropic")[0]
    assert rec.query == {"beta": "true"}
    assert "x-api-key" not in rec.headers and "authorization" not in rec.headers
    assert rec.headers["x-trace"] == "kept"
    assert "sk-secret-value" not in repr(model.requests)


def test_a_tool_rule_never_answers_a_request_without_that_tool(model: FakeModel) -> None:
    body: dict[str, Any] = {"model": "m", "messages": [{"role": "user", "content": "list files"}]}
    _, raw = post(model, "/v1/messages", body)
    assert json.loads(raw)["content"] == [{"type": "text", "text": "ok"}]


def test_chat_completions_tool_call_then_text(model: FakeModel) -> None:
    tools = [{"type": "function", "function": {"name": "shell"}}]
    body: dict[str, Any] = {
        "model": "m",
        "stream": True,
        "tools": tools,
        "messages": [
            {"role": "system", "content": "sys"},
            {"role": "user", "content": "list files"},
        ],
    }
    _, raw = post(model, "/v1/chat/completions", body)
    assert raw.rstrip().endswith(b"data: [DONE]")
    chunks = sse(raw)
    calls = [
        c
        for ch in chunks
        for c in (ch["choices"] or [{}])[0].get("delta", {}).get("tool_calls", [])
    ]
    assert calls[0]["function"]["name"] == "shell"
    body["messages"].append({"role": "assistant", "tool_calls": calls})
    body["messages"].append(
        {"role": "tool", "tool_call_id": calls[0]["id"], "content": "README.md"}
    )
    body["stream"] = False
    _, raw = post(model, "/v1/chat/completions", body)
    assert json.loads(raw)["choices"][0]["message"]["content"] == "two files"


def test_responses_streams_function_call(model: FakeModel) -> None:
    body: dict[str, Any] = {
        "model": "m",
        "stream": True,
        "tools": [{"type": "function", "name": "shell"}],
        "input": [
            {
                "type": "message",
                "role": "user",
                "content": [{"type": "input_text", "text": "list files"}],
            }
        ],
    }
    _, raw = post(model, "/v1/responses", body)
    events = sse(raw)
    assert events[0]["type"] == "response.created"
    assert events[-1]["type"] == "response.completed"
    item = events[-1]["response"]["output"][0]
    assert item["type"] == "function_call" and item["name"] == "shell"
    body["input"].append(item)
    body["input"].append(
        {"type": "function_call_output", "call_id": item["call_id"], "output": "README.md"}
    )
    _, raw = post(model, "/v1/responses", body)
    done = sse(raw)[-1]["response"]["output"][0]
    assert done["content"][0]["text"] == "two files"


def test_gemini_stream_and_whole(model: FakeModel) -> None:
    body: dict[str, Any] = {
        "contents": [{"role": "user", "parts": [{"text": "list files"}]}],
        "tools": [{"functionDeclarations": [{"name": "run_shell_command"}]}],
    }
    _, raw = post(model, "/v1beta/models/gemini-x:streamGenerateContent?alt=sse", body)
    part = sse(raw)[0]["candidates"][0]["content"]["parts"][0]
    assert part["functionCall"]["name"] == "run_shell_command"
    body["contents"].append({"role": "model", "parts": [part]})
    body["contents"].append(
        {
            "role": "user",
            "parts": [
                {
                    "functionResponse": {
                        "name": "run_shell_command",
                        "response": {"output": "README.md"},
                    }
                }
            ],
        }
    )
    _, raw = post(model, "/v1beta/models/gemini-x:generateContent", body)
    assert json.loads(raw)["candidates"][0]["content"]["parts"] == [{"text": "two files"}]


def test_unknown_paths_are_recorded_and_answered_empty(model: FakeModel) -> None:
    with urllib.request.urlopen(model.url + "/v1/models?key=sk-x", timeout=10) as resp:
        assert json.loads(resp.read())["data"] == []
    rec = model.requests[-1]
    assert (rec.method, rec.path, rec.api, rec.query) == ("GET", "/v1/models", None, {})


def test_wait_idle_waits_for_quiet(model: FakeModel) -> None:
    assert model.wait_idle(quiet=0.2, timeout=5)
    post(model, "/v1/messages", {"model": "m", "messages": [{"role": "user", "content": "x"}]})
    assert not model.wait_idle(quiet=30, timeout=0.5)  # a request just came
