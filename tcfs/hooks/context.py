"""What a hook puts into an agent's context: who it is, how to coordinate,
and what waits for it (the mail framed by ``tcfs.mail_frame``, as the mount's
waker frames it too)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from tcfs import mail_frame
from tcfs.hooks.mount import Inbox, Step

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


def shown(inbox: Inbox) -> list[dict[str, object]]:
    """The messages one hook call delivers: the oldest, at most ``MAX_SHOWN``."""
    return mail_frame.shown(inbox.messages)


def messages(inbox: Inbox, mount: Path) -> str:
    return mail_frame.framed(inbox.agent, inbox.messages, mount)


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
