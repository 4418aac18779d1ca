"""What must hold after the soak, checked against the bucket and the proxy's log.

The checks do not trust tcfs: the bucket is read with a plain boto3 client, and
the history of every claim comes from the fault proxy, which saw each write the
endpoint applied (with its body, its condition and the ETag it produced) even
when the client never heard the answer.  Each request is tied to its agent by
the access key that agent's daemon signed with.

"Told it won" is a claim command that exited 0: a fresh claim, a takeover or a
renewal, each one conditional write in the bucket.  So two agents were told
they won the same step at once exactly when a lease passed from one agent to
another while it was live; the claim history shows every such passage.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from tests.soak.workload import Outcome, told_holds
from tests.support.loopback_proxy import Request

#: tcfs takes over a lease only once it went this long unrenewed past its TTL
#: (on the store's clock)
EXPIRY_MARGIN_S = 4.0


@dataclass
class Findings:
    violations: list[str] = field(default_factory=list)
    figures: dict[str, int] = field(default_factory=dict)

    def fail(self, message: str) -> None:
        self.violations.append(message)

    def count(self, name: str, n: int = 1) -> None:
        self.figures[name] = self.figures.get(name, 0) + n


@dataclass(frozen=True)
class ClaimRecord:
    agent: str
    epoch: int
    expires_at: float | None
    lease_id: str | None
    lease_ttl_s: float | None = None


def parse_claim(body: bytes) -> ClaimRecord:
    doc = json.loads(body)
    expires = doc.get("expires_at")
    return ClaimRecord(
        str(doc["agent"]),
        int(doc.get("epoch", 0)),
        float(expires) if expires is not None else None,
        doc.get("lease_id"),
        float(doc["lease_ttl_s"]) if doc.get("lease_ttl_s") is not None else None,
    )


def object_key(req: Request, bucket: str, project: str) -> str | None:
    """The project-relative key of a path-style object request, or None."""
    prefix = f"/{bucket}/{project}/"
    path = unquote(req.path)
    return path[len(prefix) :] if path.startswith(prefix) else None


def claim_step(key: str | None) -> str | None:
    if key and key.startswith("steps/") and key.endswith("/claim.json"):
        return key[len("steps/") : -len("/claim.json")]
    return None


class ClaimLog:
    """The applied writes to claim objects, from the proxy's record."""

    def __init__(
        self, requests: Iterable[Request], bucket: str, project: str, agents: dict[str, str]
    ) -> None:
        self.agents = agents  # access key → agent
        self.puts: list[tuple[str, Request]] = []
        self.deletes: list[tuple[str, Request]] = []
        for r in requests:
            step = claim_step(object_key(r, bucket, project))
            if step is None or not r.applied:
                continue
            if r.method == "PUT":
                self.puts.append((step, r))
            elif r.method == "DELETE":
                self.deletes.append((step, r))
        self.by_etag = {r.etag: parse_claim(r.body) for _, r in self.puts if r.etag}
        #: the write that made each version: when the lease in it started
        self.put_of = {r.etag: r for _, r in self.puts if r.etag}
        # each step's writes in the order the endpoint finished them (it applies
        # a bucket's writes one at a time): (arrived, answered, record or None)
        self.timeline: dict[str, list[tuple[float, float, ClaimRecord | None]]] = defaultdict(list)
        for step, r in self.puts:
            self.timeline[step].append((r.t, r.t_done or r.t, parse_claim(r.body)))
        for step, r in self.deletes:
            self.timeline[step].append((r.t, r.t_done or r.t, None))
        for writes in self.timeline.values():
            writes.sort(key=lambda w: w[1])

    def agent_of(self, req: Request) -> str:
        return self.agents.get(req.access_key or "", f"unknown key {req.access_key}")

    def state_at(self, step: str, when: float) -> tuple[ClaimRecord | None, bool]:
        """The claim on ``step`` at ``when``, and whether a write was in flight
        then (so the state is not known for sure)."""
        current: ClaimRecord | None = None
        in_flight = False
        for arrived, answered, rec in self.timeline.get(step, ()):
            if answered <= when:
                current = rec
            elif arrived <= when:
                in_flight = True
        return current, in_flight


def check_bounded(outcomes: list[Outcome], bound: float, found: Findings) -> None:
    for o in outcomes:
        if o.rc is None:
            found.fail(f"{o.agent}: {o.kind} {o.target} did not finish within {bound:g}s")


def check_claims_backed(outcomes: list[Outcome], log: ClaimLog, found: Findings) -> None:
    """Every claim an agent was told it won is its own write, applied meanwhile."""
    writes: dict[tuple[str, str], list[float]] = defaultdict(list)
    for step, r in log.puts:
        writes[(log.agent_of(r), step)].append(r.t)
    for o in outcomes:
        if o.kind != "claim" or not o.ok:
            continue
        found.count("claims won")
        if not any(o.start <= t <= o.end for t in writes[(o.agent, o.target)]):
            found.fail(
                f"{o.agent} was told it won {o.target} at {o.end:.3f} but wrote no claim meanwhile"
            )


def check_claim_history(log: ClaimLog, found: Findings) -> None:
    """A lease passes to another agent only after it was released or expired."""
    for step, r in log.puts:
        new = parse_claim(r.body)
        writer = log.agent_of(r)
        if new.agent != writer:
            found.fail(f"{writer} wrote a claim on {step} in the name of {new.agent}")
        if r.header("If-None-Match") == "*":
            found.count("claims created")
            continue
        cond = r.header("If-Match")
        old = log.by_etag.get(cond or "")
        if old is None:
            found.fail(f"{writer} replaced the claim on {step} without a known If-Match ({cond})")
            continue
        if old.agent == new.agent:
            if new.lease_id == old.lease_id and new.epoch > old.epoch:
                # a fresh claim that met a status or handoff of an epoch as high
                # as its own (an earlier holder's clock ran ahead) raises its
                # epoch at once: the same lease, fenced higher
                found.count("epochs raised at claim")
            elif (new.epoch, new.lease_id) != (old.epoch, old.lease_id):
                found.fail(f"{writer} renewed {step} under another epoch or lease id")
            else:
                found.count("leases renewed")
            continue
        found.count("leases taken over")
        # The holder counts its lease from before its write arrived here: a
        # takeover before a whole TTL after that arrival split the lease.
        began = log.put_of[cond or ""].t
        if old.lease_ttl_s is None or r.t <= began + old.lease_ttl_s:
            found.fail(
                f"{writer} took {step} from {old.agent} while its lease was live "
                f"(at {r.t:.3f}, renewed at {began:.3f} for {old.lease_ttl_s} s)"
            )
        if new.epoch <= old.epoch:
            found.fail(f"{writer} took over {step} without a newer epoch")
    for step, r in log.deletes:
        old = log.by_etag.get(r.header("If-Match") or "")
        deleter = log.agent_of(r)
        if old is None:
            found.fail(f"{deleter} deleted the claim on {step} without a known If-Match")
        elif old.agent != deleter:
            found.fail(f"{deleter} deleted {old.agent}'s claim on {step}")
        else:
            found.count("leases released")


def check_told_not_holder(outcomes: list[Outcome], log: ClaimLog, found: Findings) -> None:
    """When an agent is told it does not hold a step (a lost claim, a lost
    lease, a release), the step is not its live lease in the bucket."""
    for o in outcomes:
        if o.kind not in ("claim", "release") or told_holds(True, o):
            continue
        rec, unsure = log.state_at(o.target, o.end)
        if unsure:
            found.count("told not holder, a write in flight")
            continue
        found.count("told not holder, checked")
        if rec is not None and rec.agent == o.agent and (rec.expires_at or 0) > o.end:
            found.fail(
                f"{o.agent} was told {o.result} on its {o.kind} of {o.target} at {o.end:.3f}, "
                f"but held a live lease on it (epoch {rec.epoch}, expires_at {rec.expires_at})"
            )


def check_final_leases(
    outcomes: list[Outcome], final: dict[str, ClaimRecord], now: float, found: Findings
) -> None:
    """No live lease is held by an agent that was told it does not hold it.

    Run after the last command plus a whole lease: a claim whose command failed
    with an unclear error may have been written, and is then left to expire; a
    daemon that still renews it holds a step its agent does not know about.
    """
    told: dict[tuple[str, str], bool] = {}
    for o in outcomes:
        if o.kind in ("claim", "release"):
            told[(o.agent, o.target)] = told_holds(told.get((o.agent, o.target), False), o)
    for step, rec in sorted(final.items()):
        if rec.expires_at is not None and rec.expires_at <= now:
            continue
        found.count("live leases at the end")
        if not told.get((rec.agent, step), False):
            found.fail(f"{rec.agent} holds a live lease on {step} but was told it does not")
    for (agent, step), holds in sorted(told.items()):
        last = final.get(step)
        if holds and (last is None or last.agent != agent):
            found.count("leases lapsed under faults")


def check_messages(
    outcomes: list[Outcome], mailboxes: dict[str, list[dict[str, Any]]], found: Findings
) -> None:
    """Every acknowledged message arrived with its text; nothing arrived unsent."""
    have = {
        (str(doc.get("from")), to, str(doc.get("message")))
        for to, docs in mailboxes.items()
        for doc in docs
    }
    sent = {(o.agent, o.target, o.arg) for o in outcomes if o.kind == "send"}
    for o in outcomes:
        if o.kind == "send" and o.ok:
            found.count("messages acknowledged")
            if (o.agent, o.target, o.arg) not in have:
                found.fail(f"{o.agent}'s message {o.arg!r} to {o.target} was acknowledged, lost")
    for msg in sorted(have - sent):
        found.fail(f"a message nobody sent is in the bucket: {msg}")


def check_memory(
    outcomes: list[Outcome],
    current: dict[str, str | None],
    history: dict[str, list[str]],
    found: Findings,
) -> None:
    """Every acknowledged set is in the key's history (or its value); the live
    value is one that was set, and is in the history too (history first)."""
    attempted: dict[str, set[str]] = defaultdict(set)
    for o in outcomes:
        if o.kind != "set":
            continue
        attempted[o.target].add(o.arg)
        if o.ok:
            found.count("memory sets acknowledged")
            if o.arg not in history.get(o.target, []) and o.arg != current.get(o.target):
                found.fail(f"{o.agent}'s set {o.target}={o.arg!r} was acknowledged, then lost")
    for key, value in sorted(current.items()):
        if value is None:
            continue
        if value not in attempted[key]:
            found.fail(f"memory key {key} holds {value!r}, which nobody set")
        if value not in history.get(key, []):
            found.fail(f"memory key {key} holds {value!r}, which has no history entry")
