"""The two turns every harness runs against the fake model.

Turn one: the prompt holds ``TURN-ONE``; the model calls the shell
(``echo STEP-SHELL-42``), then, seeing ``STEP-SHELL-42`` in the result,
calls the subagent tool with a prompt holding ``SUBAGENT-TASK``; the subagent
answers ``SUBAGENT-REPLY``, and the parent closes the turn.  Turn two resumes
the session with ``TURN-TWO``: one shell call whose output is longer than
8 KiB (:data:`LONG_LINES` lines of :data:`LONG_MARK`), then a closing reply.
"""

from __future__ import annotations

from collections.abc import Callable

from tests.support.fakemodel import Script, Text, ToolCall

TURN_ONE = "TURN-ONE: run the shell step, then hand the subagent step to a subagent."
TURN_TWO = "TURN-TWO: print the long listing."
SHELL_ONE = "echo STEP-SHELL-42"
SHELL_MARK = "STEP-SHELL-42"
SUB_TASK = "SUBAGENT-TASK: say that the subagent step is done."
SUB_REPLY = "SUBAGENT-REPLY: the subagent step is done."
LONG_MARK = "LONG-OUTPUT-LINE-0123456789-abcdefghij"
LONG_LINES = 300  # 300 x 39 bytes: about 11.4 KiB of tool output
SHELL_LONG = f"yes {LONG_MARK} | head -n {LONG_LINES}"
DONE_ONE = "TURN-ONE-DONE"
DONE_TWO = "TURN-TWO-DONE"


def script(
    shell: Callable[[str], ToolCall],
    subagent: Callable[[str], ToolCall] | None,
    *,
    extra: Callable[[Script], None] | None = None,
) -> Script:
    """The scenario for one harness: ``shell(command)`` and ``subagent(prompt)``
    build its tool calls (names and argument shapes differ per harness)."""
    s = Script()
    if extra is not None:
        extra(s)
    s.on(LONG_MARK, Text(DONE_TWO))
    s.on("TURN-TWO", shell(SHELL_LONG))
    s.on("SUBAGENT-REPLY", Text(DONE_ONE))
    s.on("SUBAGENT-TASK", Text(SUB_REPLY))
    if subagent is not None:
        s.on(SHELL_MARK, subagent(SUB_TASK))
    else:
        s.on(SHELL_MARK, Text(DONE_ONE))
    s.on("TURN-ONE", shell(SHELL_ONE))
    return s
