"""The mount's own ``README``: how to use this mount, from inside it."""

from __future__ import annotations

TEMPLATE = """\
tcfs mount of project {project!r} as agent {agent!r} ({backend})

Coordinate with plain shell commands:

  ls steps/                         steps that exist
  echo me > steps/<id>/claim        claim a step (fails with "File exists" if taken;
                                    no mkdir needed: any valid step id is a directory)
  cat steps/<id>/claim              who holds it, lease and epoch
  echo complete > steps/<id>/status set the status (holder only): in_progress,
                                    complete, blocked, needs_review
  echo "notes" > steps/<id>/handoff complete the step with a handoff note (holder only);
                                    a JSON object sets note, next_agent, next_action,
                                    state, changed_files
  rm steps/<id>/claim               release (holder only)
  echo value > memory/<a>/<b>       set shared memory (the CLI's key a.b); cat, ls, rm
  echo hi > outbox/<agent>          send a message (outbox/_broadcast: everyone)
  cat inbox/*                       read messages; rm removes one (a broadcast only
                                    for you)
  cp -r dir artifacts/shared/       share files, any names, in directories (or
                                    artifacts/<step>/); tar x and rsync work too
  tail -f sessions/<harness>/<id>.jsonl   follow an agent's transcript live
  tail -f events                    who did what, when: every agent's actions, live
  cat agents/<id>.json              an agent's record and presence

Before editing several files, reserve them, so no other agent edits them meanwhile:

  printf 'src/api/**\\ndocs/api.md\\n' > reservations/<name>
                                    reserve path globs (one a line, relative to the git
                                    root, ** for any depth); fails with "File exists" if
                                    another agent's live reservation overlaps: cat
                                    reservations/* shows who holds what, then ask them
                                    (echo "..." > outbox/<holder>) or wait
  ls reservations/                  the live reservations; cat one: holder, globs, lease
  rm reservations/<name>            release it when your edit is done (holder only)

The harness hooks deny edits of files another agent has reserved, and name the holder.

Blocking files (never listed, so ls, find and grep -r never block on them):

  cat steps/<id>/wait               blocks until the step is complete, then prints
                                    "complete"; fails with "Operation canceled" if the
                                    step is blocked, "Connection timed out" after {wait:g}s
  cat inbox/next                    blocks until a message you have not read arrives,
                                    prints it once and advances your read cursor

A blocked cat ends at once when it is interrupted or killed (Ctrl-C, timeout,
kill), and takes nothing with it: the next message goes to the next reader.

Also never listed, and never blocking (what the harness hooks use):

  cat inbox/unread                  the messages you have not read, as JSON with their
                                    names; consumes nothing
  echo NAME > inbox/ack             marks that message read (one name per line)
  cat reservations/check            every live reservation as JSON, and why your last
                                    reservation was refused

Your claims and reservations are leases of {lease:g}s, renewed while this mount is up.
Names: step ids are lower case without dots; memory key parts have no dots
(memory/a/b is the key a.b); spaces and non-ASCII are fine; names starting
with "_" are reserved (but for
artifacts, which take any name). A bad name fails with "Invalid argument".
Read-only paths fail with "Permission denied"; links and chmod fail with
"Operation not supported". sed -i, editors and mv work: a tool's temporary
file stays on this mount until it is renamed into place.

Why did it fail?  The shell shows one word; the reason (the rule, the allowed
words, the limit, who holds the claim) is in:

  cat why                           never listed: the last refusals, newest last,
                                    with time, path and errno (also under this
                                    mount in `tcfs status`)

This agent id is mounted here only: a second mount of {agent!r} is refused,
naming this one.
"""


def render(
    *, project: str, agent: str, backend: str, wait_timeout: float, lease_ttl: float
) -> bytes:
    return TEMPLATE.format(
        project=project, agent=agent, backend=backend, wait=wait_timeout, lease=lease_ttl
    ).encode()
