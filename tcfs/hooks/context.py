"""What a hook puts into an agent's context: who it is, how to coordinate,
and what waits for it.  Message texts come from other agents and are
redacted before they are shown (a hook never prints a secret)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from tcfs.hooks.mount import Inbox, Step

MAX_SHOWN = 20  # messages per hook call; the rest come at the next one
MAX_TEXT = 4000  # characters of one message; the whole text stays in inbox/

CHEAT_SHEET = """\
You are agent {agent!r} in the tcfs project {project!r}, mounted at {m}. Other coding \
agents share it; coordinate with them through plain files there:
- messages: `cat {m}/inbox/*` shows yours; `echo "text" > {m}/outbox/<agent>` sends one \
(`{m}/outbox/_broadcast` reaches everyone). New messages are also shown to you as they \
arrive, with your next prompt or before you stop.
- steps: `echo me > {m}/steps/<id>/claim` claims one (it fails if another agent holds it); \
`echo complete > {m}/steps/<id>/status` when done, or `echo "note" > {m}/steps/<id>/handoff`; \
`cat {m}/steps/<id>/wait` blocks until a step is complete.
- shared memory: `echo value > {m}/memory/<a>/<b>`; files: `cp FILE {m}/artifacts/shared/`; \
who is around: `ls {m}/agents`; everything else: `cat {m}/README`."""


def _redact(text: str) -> str:
    from tcfs.mirror.redact import redact_text

    return redact_text(text, Counter())


def _one(msg: dict[str, object], mount: Path) -> str:
    kind = "broadcast" if msg.get("broadcast") else "direct"
    step = f", step {msg['step']}" if msg.get("step") else ""
    when = f" at {msg['sent_at']}" if msg.get("sent_at") else ""
    text = str(msg.get("text", ""))
    if len(text) > MAX_TEXT:
        text = text[:MAX_TEXT] + f"\n[... cut; the whole message: cat {mount}/inbox/{msg['name']}]"
    return f"--- from {msg.get('from', '?')} ({kind}{step}){when}:\n{_redact(text).rstrip()}"


def shown(inbox: Inbox) -> list[dict[str, object]]:
    """The messages one hook call delivers: the oldest, at most ``MAX_SHOWN``."""
    return inbox.messages[:MAX_SHOWN]


def messages(inbox: Inbox, mount: Path) -> str:
    msgs = shown(inbox)
    n = len(msgs)
    head = f"[tcfs] {n} new message{'s' if n != 1 else ''} for {inbox.agent} ({mount}):"
    body = "\n".join(_one(m, mount) for m in msgs)
    more = len(inbox.messages) - n
    tail = f"\n({more} more waiting; they come with the next prompt)" if more > 0 else ""
    reply = f'\nReply with `echo "..." > {mount}/outbox/<agent>`.'
    return f"{head}\n{body}{tail}{reply}"


def session(
    inbox: Inbox, mount: Path, steps: Sequence[Step] | None, done_since: Sequence[str]
) -> str:
    parts = [CHEAT_SHEET.format(agent=inbox.agent, project=inbox.project, m=mount)]
    if steps is None:
        parts.append("(the steps could not be read in time: `ls " + str(mount) + "/steps`)")
    else:
        held = [
            f"{s.id} ({s.status})"
            for s in steps
            if s.holder == inbox.agent and s.status != "complete"
        ]
        parts.append("Steps you hold: " + (", ".join(held) if held else "none") + ".")
        if done_since:
            parts.append("Steps completed since your last session: " + ", ".join(done_since) + ".")
    if inbox.messages:
        parts.append(messages(inbox, mount))
    else:
        parts.append("No unread messages.")
    return "\n".join(parts)
