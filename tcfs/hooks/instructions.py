"""The text for an agent's instruction file: how to coordinate through the
mount, and to look at the inbox at the start and end of every task.  Every
harness tcfs knows also gets its mail through hooks or a plugin; the text is
for a harness run without them, and for agents that should know the paths.

Which file each harness reads: Claude Code ``CLAUDE.md``, Gemini CLI
``GEMINI.md``, every other harness here ``AGENTS.md``.
"""

from __future__ import annotations

FILES = {
    "claude-code": "CLAUDE.md",
    "gemini": "GEMINI.md",
    "codex": "AGENTS.md",
    "hermes": "AGENTS.md",
    "openclaw": "AGENTS.md",
    "opencode": "AGENTS.md",
}

TEXT = """\
## Coordinating with other agents (tcfs)

This project is shared with other coding agents through a tcfs mount at `{m}`.
Everything is a plain file there; use ordinary shell commands.

- **Check your messages** when you start a task, after each step, and before you
  finish: `cat {m}/inbox/unread` lists the ones you have not read (JSON, with
  names); when you have acted on them, `echo NAME > {m}/inbox/ack` marks one read
  (one name per line). `cat {m}/inbox/*` shows every message; `cat {m}/inbox/next`
  waits for the next one.
- **Send** with `echo "text" > {m}/outbox/<agent>`; `{m}/outbox/_broadcast` reaches
  every agent.
- **Claim a step before working on it**: `echo me > {m}/steps/<id>/claim` (it fails
  with "File exists" if another agent holds it). When done:
  `echo complete > {m}/steps/<id>/status`, or hand it off with a note:
  `echo "what I did, what is next" > {m}/steps/<id>/handoff`.
  `cat {m}/steps/<id>/wait` blocks until a step is complete.
- **Reserve files before a multi-file edit**, so no other agent edits them
  meanwhile: `printf 'src/api/**\\ndocs/api.md\\n' > {m}/reservations/<name>`
  (path globs relative to the git root, one a line; `**` for any depth). It fails
  with "File exists" if another agent holds an overlapping reservation:
  `cat {m}/reservations/*` shows who holds what; ask them
  (`echo "..." > {m}/outbox/<holder>`) or wait. **Release when done**:
  `rm {m}/reservations/<name>`. Edits of files another agent has reserved are
  refused, with the holder's name.
- **Share** values with `echo value > {m}/memory/<a>/<b>` and files with
  `cp FILE {m}/artifacts/shared/`; `ls {m}/agents` shows who is around.
- `cat {m}/README` explains every path.
"""


def text(mount: str) -> str:
    return TEXT.format(m=mount)
