"""The chain check (``tcfs replay --verify``): each agent's events hash to
what they say, follow one another, and leave no holes; it names gaps, edits,
forks, forgeries and events filed in another agent's batch."""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import dataclass

from tcfs.protocol import keys
from tcfs.protocol.events.event import Event


@dataclass(frozen=True)
class Problem:
    agent: str
    what: str  # gap | edited | broken | forked | misfiled | malformed
    message: str
    event_id: str | None = None


def verify(events: Iterable[Event], malformed: Iterable[str] = ()) -> list[Problem]:
    """Check each agent's chain: every event hashes to what it says, follows
    the hash of the one before it, and the sequence has no holes."""
    problems = [Problem("?", "malformed", m) for m in malformed]
    by_agent: dict[str, list[Event]] = {}
    for ev in events:
        if ev.source != "tcfs":
            continue
        owner = keys.key_sender(ev.key, keys.EVENTS_ROOT) if ev.key else None
        if owner is not None and owner != ev.agent:
            problems.append(
                Problem(
                    ev.agent,
                    "misfiled",
                    f"event {ev.id} of {ev.agent} is in {owner}'s batch {ev.key}",
                    ev.id,
                )
            )
        by_agent.setdefault(ev.agent, []).append(ev)
    for agent, evs in sorted(by_agent.items()):
        problems.extend(_verify_chain(agent, evs))
    return problems


def _verify_chain(agent: str, evs: list[Event]) -> list[Problem]:
    out: list[Problem] = []
    by_seq: dict[int, Event] = {}
    for ev in evs:
        if ev.seq is None or ev.hash is None:
            out.append(
                Problem(agent, "malformed", f"event {ev.id} has no sequence number or hash", ev.id)
            )
            continue
        if ev.compute_hash() != ev.hash:
            out.append(
                Problem(
                    agent,
                    "edited",
                    f"event #{ev.seq} ({ev.id}) was changed after it was written: "
                    "its hash does not match its content",
                    ev.id,
                )
            )
        other = by_seq.get(ev.seq)
        if other is not None and other.hash != ev.hash:
            out.append(
                Problem(
                    agent,
                    "forked",
                    f"two different events claim #{ev.seq}: {other.id} and {ev.id}",
                    ev.id,
                )
            )
            continue
        by_seq[ev.seq] = ev
    seqs = sorted(by_seq)
    if seqs and seqs[0] != 0:
        out.append(
            Problem(
                agent,
                "gap",
                f"the chain starts at #{seqs[0]}: events #0–#{seqs[0] - 1} are missing",
            )
        )
    elif seqs and by_seq[0].prev is not None:
        out.append(Problem(agent, "broken", "event #0 names a previous event", by_seq[0].id))
    for a, b in itertools.pairwise(seqs):
        ea, eb = by_seq[a], by_seq[b]
        if b != a + 1:
            missing = f"#{a + 1}" if b == a + 2 else f"#{a + 1}–#{b - 1}"
            out.append(
                Problem(
                    agent,
                    "gap",
                    f"events {missing} are missing (between {ea.id} and {eb.id})",
                    eb.id,
                )
            )
        elif eb.prev != ea.hash:
            out.append(
                Problem(
                    agent,
                    "broken",
                    f"event #{b} ({eb.id}) does not follow #{a}: its previous hash is not #{a}'s",
                    eb.id,
                )
            )
    return out


def chain_summary(events: Iterable[Event]) -> dict[str, int]:
    """Events per agent in the log (for ``--verify``'s report)."""
    counts: dict[str, int] = {}
    for ev in events:
        if ev.source == "tcfs":
            counts[ev.agent] = counts.get(ev.agent, 0) + 1
    return counts
