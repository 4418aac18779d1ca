"""A fake model server on 127.0.0.1 that the real harness programs talk to.

It speaks, streamed (SSE) and unstreamed:

- Anthropic Messages: ``POST .../messages`` (``stream: true`` for SSE
  ``message_start``/``content_block_*``/``message_delta``/``message_stop``);
- OpenAI Chat Completions: ``POST .../chat/completions`` (chunks, then
  ``data: [DONE]``);
- OpenAI Responses: ``POST .../responses`` (``response.created`` ...
  ``response.completed``);
- Gemini: ``POST .../models/<model>:generateContent`` and
  ``:streamGenerateContent`` (``?alt=sse``).

Any path prefix is accepted (``/v1``, ``/v1beta``, ``/anthropic/v1``).  Other
paths (model listings, probes) get an empty JSON answer and are recorded, so a
test can see what a harness asked for.

Usage::

    from tests.support.fakemodel import FakeModel, Script, Text, ToolCall

    script = (
        Script()
        .on("TURN-ONE", ToolCall(("Bash", "shell"), {"command": "echo hi"}))
        .on("hi", Text("done"))
    )
    with FakeModel(script) as model:
        env["ANTHROPIC_BASE_URL"] = model.url
        ...  # run the harness
        assert model.answered("anthropic")

``Script.on(marker, reply, times=None)`` adds a rule: it answers a request
whose messages since the model last spoke (the prompt with any context the
harness adds, or the tool results it sends back; ``Conversation.last``)
contain ``marker``, or satisfy a predicate over the :class:`Conversation`;
``times`` bounds how often it answers.  A
:class:`ToolCall` lists acceptable tool names and is used only when the
request declares one of them, so a harness's side requests (title generation,
quota probes) fall through to ``Script.fallback`` (``Text("ok")``).  Its
``args`` may be a function of the conversation, to name an id the harness
returned (``lambda conv: {"targets": [json.loads(conv.last)["agent_id"]]}``);
a tool declared inside a Responses ``namespace`` tool is called with that
``namespace``.  The
server is stateless about turns: what it answers depends on the conversation
the harness sends, so a resumed session continues the script.

Claude Code, for example, runs one turn against it with (``install`` from
``tests.support.harnesses.install``)::

    claude = install("claude-code")
    env = claude.env({"PATH": os.environ["PATH"], "HOME": str(home),
                      "ANTHROPIC_BASE_URL": model.url, "ANTHROPIC_API_KEY": "sk-ant-fake",
                      "DISABLE_AUTOUPDATER": "1", "DISABLE_TELEMETRY": "1",
                      "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1"})
    subprocess.run([*claude.argv, "-p", "TURN-ONE", "--allowedTools", "Bash,Agent",
                    "--output-format", "json"], env=env, cwd=project, timeout=120,
                   stdin=subprocess.DEVNULL)

Its shell tool is ``Bash`` (``{"command", "description"}``) and its subagent
tool ``Agent`` (``{"description", "prompt", "subagent_type"}``); a subagent's
first request has the ``prompt`` as its last message.

``FakeModel.requests`` records every request: method, path, query, headers
(lower-cased, credentials such as ``authorization``/``x-api-key``/
``x-goog-api-key`` dropped) and the JSON body.  ``FakeModel.answered(api)``
filters those a model API answered.  ``FakeModel.wait_idle(quiet, timeout)``
waits until no request has come for ``quiet`` seconds, for a harness whose
subagents finish after its command returns.
"""

from tests.support.fakemodel.script import (
    Conversation,
    Reply,
    Rule,
    Script,
    Text,
    ToolCall,
    contains,
)
from tests.support.fakemodel.server import APIS, FakeModel, Recorded, route

__all__ = [
    "APIS",
    "Conversation",
    "FakeModel",
    "Recorded",
    "Reply",
    "Rule",
    "Script",
    "Text",
    "ToolCall",
    "contains",
    "route",
]
