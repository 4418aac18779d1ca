"""One hook call: ``python -m tcfs.hooks HARNESS EVENT --mount MOUNTPOINT``.

The harness writes its event as JSON on stdin and reads the answer on stdout.
Whatever happens (mount gone, daemon stopped, bucket down) the answer is
written within ``DEADLINE`` seconds, and a problem becomes one line for the
user (and for the agent, where the event adds to its context); the exit
status is always 0, so the agent goes on.  Messages are marked read only
after the answer that shows them was written, and for a harness that
``confirms`` (a plugin runs the hook) only once the plugin says it put them in.
Before a file-editing tool call (``edit``) the answer refuses the edit of a file
another agent has reserved (``guard``), or says nothing.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import NoReturn

from tcfs.hooks import bounded, context, mount
from tcfs.hooks.harness import EVENTS, Answer, Harness, load

DEADLINE = 1.8  # seconds from the start of the call to the answer, ack included
READ_SHARE = 0.7  # of the deadline, for reading the mount; the rest acknowledges
STEPS_S = 0.6  # of that, for the steps at session start: without them the rest still goes
USAGE = "usage: python -m tcfs.hooks HARNESS {session-start,prompt,edit,stop} --mount MOUNTPOINT"


class Usage(Exception):
    pass


def parse(argv: list[str]) -> tuple[Harness, str, Path]:
    pos: list[str] = []
    where: str | None = None
    it = iter(argv)
    for a in it:
        if a == "--mount":
            where = next(it, None)
        elif a.startswith("--mount="):
            where = a.split("=", 1)[1]
        elif a.startswith("-"):
            raise Usage(f"unknown option {a}")
        else:
            pos.append(a)
    if len(pos) != 2 or not where:
        raise Usage("need HARNESS, EVENT and --mount")
    try:
        harness = load(pos[0])
    except KeyError:
        raise Usage(f"no hooks for harness {pos[0]!r}") from None
    if pos[1] not in EVENTS:
        raise Usage(f"unknown event {pos[1]!r}")
    return harness, pos[1], Path(os.path.abspath(where))


def _stdin(one_line: bool = False) -> dict[str, object]:
    if sys.stdin is None or sys.stdin.isatty():
        return {}
    chunks = [sys.stdin.buffer.readline()] if one_line else []
    while not one_line and (chunk := os.read(0, 65536)):
        chunks.append(chunk)
    try:
        doc = json.loads(b"".join(chunks) or b"{}")
    except ValueError:
        return {}
    return doc if isinstance(doc, dict) else {}


def _session(inbox: mount.Inbox, where: Path) -> str:
    """Session start: who, how, and what waits, steps included when they come in time."""
    from tcfs.hooks.seen import completed_since

    steps: list[mount.Step] | None
    try:
        steps = bounded.within(STEPS_S, lambda: mount.steps(where))
    except (bounded.TimedOut, mount.MountError):
        steps = None  # many steps on a slow bucket: say so and go on
    done: list[str] = []
    if steps is not None:  # when not known, what was complete before stays recorded
        complete = [s.id for s in steps if s.status == "complete"]
        done = completed_since(inbox.project, inbox.agent, complete)
    return context.session(inbox, where, steps, done)


def respond(event: str, where: Path, one_line: bool = False) -> tuple[Answer, list[str]]:
    """The answer and the names of the messages it delivers."""
    payload = _stdin(one_line)
    if event == "edit":
        from tcfs.hooks import guard

        return guard.answer(where, payload), []
    if event == "stop" and payload.get("stop_hook_active"):
        # This stop already follows one we held up: let the agent stop; any
        # newer mail waits for the next prompt instead of looping.
        return Answer(), []
    extra = payload.get("extra")
    if event == "prompt" and isinstance(extra, dict) and extra.get("is_first_turn"):
        event = "session-start"  # Hermes: its first turn's prompt hook starts the session
    inbox = mount.read_inbox(where)
    names = [str(m["name"]) for m in context.shown(inbox)]
    if event == "session-start":
        return Answer(context=_session(inbox, where)), names
    if not inbox.messages:
        return Answer(), []
    text = context.messages(inbox, where)
    if event == "stop":
        return Answer(block=text + "\nAct on these messages before you stop."), names
    return Answer(context=text), names


def _confirmed(seconds: float) -> bool:
    """A harness that ``confirms`` writes ``delivered`` once the answer is in the turn."""
    try:
        line: bytes = bounded.within(seconds, sys.stdin.buffer.readline)
    except bounded.TimedOut:
        return False
    return line.strip() == b"delivered"


def _age() -> float:
    """Seconds since this process started: the deadline counts the
    interpreter's start-up too, which a loaded machine can make long."""
    try:
        with open("/proc/self/stat", "rb") as f:
            stat = f.read()
        with open("/proc/uptime", "rb") as f:
            uptime = float(f.read().split()[0])
        ticks = int(stat[stat.rfind(b")") + 2 :].split()[19])  # field 22, starttime
        return max(0.0, uptime - ticks / os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError):
        return 0.0


def main(argv: list[str]) -> NoReturn:
    start = time.monotonic() - _age()
    try:
        harness, event, where = parse(argv)
    except Usage as exc:
        print(f"tcfs hook: {exc}\n{USAGE}", file=sys.stderr)
        os._exit(1)  # not 2: for some harnesses 2 means "block"
    names: list[str] = []
    try:
        answer, names = bounded.within(
            DEADLINE * READ_SHARE - (time.monotonic() - start),
            lambda: respond(event, where, harness.confirms),
        )
    except bounded.TimedOut:
        answer = Answer(
            notice=f"tcfs: {where} did not answer within {DEADLINE * READ_SHARE:.1f}s "
            "(daemon stopped or bucket slow); going on without mail"
        )
    except mount.MountError as exc:
        answer = Answer(notice=str(exc))
    except Exception as exc:  # a hook never breaks the agent's turn
        answer = Answer(notice=f"tcfs: hook failed: {type(exc).__name__}: {exc}")
    if answer.notice:
        print(answer.notice, file=sys.stderr)
        if event not in ("stop", "edit"):
            answer.context = answer.notice
    sys.stdout.write(json.dumps(harness.format(event, answer), ensure_ascii=False) + "\n")
    sys.stdout.flush()
    if names and harness.confirms and not _confirmed(DEADLINE - (time.monotonic() - start)):
        names = []  # not put into the turn: they are shown again next time
    if names:
        try:
            bounded.within(DEADLINE - (time.monotonic() - start), lambda: mount.ack(where, names))
        except bounded.TimedOut:
            print(
                f"tcfs: {where} did not confirm; the messages may be shown again", file=sys.stderr
            )
        except mount.MountError as exc:
            print(f"{exc}; the messages may be shown again", file=sys.stderr)
    sys.stderr.flush()
    os._exit(0)
