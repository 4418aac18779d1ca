"""The text for an agent's instruction file: how to coordinate through the
mount, and to look at the inbox at the start and end of every task.  Every
harness tcfs knows also gets its mail through hooks or a plugin; the text is
for a harness run without them, and for agents that should know the paths.

Which file each harness reads is its record's ``instructions``
(``tcfs.harnesses``): Claude Code ``CLAUDE.md``, Gemini CLI ``GEMINI.md``,
the others ``AGENTS.md``, in the project or where its hooks' ``instructions_dir``
says (OpenClaw's workspace).  What holds for a harness's own shell tool (how
long a command may block, how to write where a ``>`` needs confirmation) is
its hooks' ``shell_notes``.
"""

from __future__ import annotations

from pathlib import Path

from tcfs import harnesses
from tcfs.hooks.harness import Harness, load

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
- **A command failed?** The shell shows one word ("Invalid argument", "File
  exists"); `cat {m}/why` gives the reason (the name rule, the allowed words, the
  limit, who holds the claim).
- `cat {m}/README` explains every path.
"""


#: the shell-tool note of a harness whose tool returns "still running" after about 10 s
SLICED_WAITS = """\
- **Waiting longer than your shell tool does**: it returns after about 10 s while
  a command still runs, so wait in slices: `timeout 8 cat {m}/steps/<id>/wait`
  (or `inbox/next`) and run it again until it prints; a wait cut short takes
  nothing, so no message is lost.
"""


def text(mount: str, harness: str | None = None) -> str:
    hooks = _hooks(harness) if harness else None
    notes = hooks.shell_notes if hooks else ""
    return TEXT.format(m=mount) + notes.format(m=mount)


def target(harness: str, cwd: Path | None = None) -> Path:
    """Where the harness reads its instructions: in the project, unless its
    hooks say where else (OpenClaw: its workspace)."""
    hooks = _hooks(harness)
    elsewhere = hooks.instructions_dir() if hooks and hooks.instructions_dir else None
    return (elsewhere or cwd or Path.cwd()) / harnesses.get(harness).instructions


def _hooks(harness: str) -> Harness | None:
    return load(harness) if harnesses.get(harness).hooks else None
