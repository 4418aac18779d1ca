"""The fault soak: four real mounts race through a proxy that breaks S3.

moto's server sits behind the fault proxy (``tests/support/loopback_proxy.py``),
which injects 503 SlowDown, 500 InternalError, connection resets, answers lost
after the write was applied (reset or 500) and latency spikes into a given
fraction of requests.  Four daemons, one per agent and each signing with its own
access key, mount the project through it; each agent's shell races claims on
shared steps, releases what it holds, sends messages and sets shared memory
keys, every command under a timeout.  Then, without faults, the bucket and the
proxy's record of applied writes are checked (``tests/soak/invariants.py``).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bench.stats import percentile
from tests.soak import invariants as inv
from tests.soak.workload import Agent, Outcome, Plan, run_agents
from tests.support.loopback_proxy import FAULT_KINDS, FaultInjector, LoopbackProxy
from tests.support.mounts import Backend, Mount, sh
from tests.support.s3server import MotoServer
from tests.support.seaweedfs import CLIENT_KEYS

pytestmark = [pytest.mark.mount, pytest.mark.soak, pytest.mark.slow]

AGENTS = ("alice", "bob", "carol", "dave")
LEASE_TTL = 5.0  # the shortest tcfs allows: leases lapse and are taken over within the run
PLAN = Plan(
    steps=("s1", "s2", "s3", "s4", "s5", "s6"),
    memory_keys=("k1", "k2", "k3"),
    seconds=40.0,
    max_rounds=400,
    bound=60.0,
    seed=8,
    pause=LEASE_TTL + inv.EXPIRY_MARGIN_S + 1.0,  # a lease and the margin, and then some
)


@pytest.fixture
def faults(rate: float) -> FaultInjector:
    injector = FaultInjector(rate, seed=int(rate * 1000))
    injector.enabled = False  # the mounts start on a healthy endpoint
    return injector


@pytest.fixture
def proxy(moto_server: MotoServer, faults: FaultInjector) -> Iterator[LoopbackProxy]:
    p = LoopbackProxy(moto_server.port, faults)
    yield p
    p.close()


@pytest.fixture
def backend(proxy: LoopbackProxy, s3_bucket: str, tcfs_home: Path) -> Iterator[Backend]:
    """The fs tests' mount fixture, pointed at the fault proxy."""
    args = ["--backend", "s3", "--endpoint", proxy.endpoint, "--bucket", s3_bucket]
    yield Backend("s3", [*args, "--region", "us-east-1"], None)


def access_key(agent: str) -> str:
    """The key ``agent``'s mount signs with: one the server knows (SeaweedFS
    checks keys), distinct per agent, so the proxy tells the agents apart."""
    return CLIENT_KEYS[AGENTS.index(agent)]


def _objects(client: Any, bucket: str, prefix: str) -> list[str]:
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    return [o["Key"] for page in pages for o in page.get("Contents", ())]


def _json(client: Any, bucket: str, key: str) -> Any:
    import json

    try:
        return json.loads(client.get_object(Bucket=bucket, Key=key)["Body"].read())
    except client.exceptions.NoSuchKey:
        return None


def read_bucket(client: Any, bucket: str) -> dict[str, Any]:
    """What the checks need, read directly from moto (no proxy, no tcfs)."""
    mailboxes = {
        a: [
            _json(client, bucket, k)
            for k in _objects(client, bucket, f"proj/messages/{a}/")
            if not k.rsplit("/", 1)[1].startswith("_")
        ]
        for a in AGENTS
    }
    current: dict[str, str | None] = {}
    history: dict[str, list[str]] = {}
    for key in PLAN.memory_keys:
        doc = _json(client, bucket, f"proj/memory/soak/{key}.json")
        current[key] = doc["value"] if doc else None
        keys = _objects(client, bucket, f"proj/memory/_history/soak/{key}/")
        history[key] = [_json(client, bucket, k)["value"] for k in keys]
    claims = {}
    for step in PLAN.steps:
        doc = _json(client, bucket, f"proj/steps/{step}/claim.json")
        if doc is not None:
            claims[step] = inv.ClaimRecord(
                doc["agent"], doc["epoch"], doc.get("expires_at"), doc.get("lease_id")
            )
    return {"mailboxes": mailboxes, "current": current, "history": history, "claims": claims}


def summary(
    rate: float,
    outcomes: list[Outcome],
    faults: FaultInjector,
    proxy: LoopbackProxy,
    found: inv.Findings,
) -> str:
    by_kind: dict[str, Counter[str]] = {}
    for o in outcomes:
        by_kind.setdefault(o.kind, Counter())[o.result] += 1
    lines = [f"fault soak at {rate:.0%}: {len(outcomes)} commands from {len(AGENTS)} mounts"]
    lines.append("| command | run | outcomes |")
    lines.append("|---|---|---|")
    for kind, c in sorted(by_kind.items()):
        outs = ", ".join(f"{k} {n}" for k, n in c.most_common())
        lines.append(f"| {kind} | {sum(c.values())} | {outs} |")
    reqs = proxy.recorded()
    lost = sum(1 for r in reqs if r.fault in ("lost_reset", "lost_500") and r.applied)
    mix = ", ".join(f"{k} {faults.counts[k]}" for k in FAULT_KINDS)
    lines.append(f"requests {len(reqs)}; faults injected {sum(faults.counts.values())}: {mix}")
    lines.append(f"answers lost after the endpoint applied the request: {lost}")
    secs = [o.seconds for o in outcomes]
    p50, p95 = percentile(secs, 50), percentile(secs, 95)
    lines.append(
        f"command time p50 {p50:.2f} s, p95 {p95:.2f} s, max {max(secs):.2f} s "
        f"(bound {PLAN.bound:g} s)"
    )
    lines.append("checked: " + ", ".join(f"{k} {v}" for k, v in sorted(found.figures.items())))
    return "\n".join(lines)


def answering(m: Mount) -> bool:
    return m.proc.poll() is None and sh("ls steps memory/soak", cwd=m.path).returncode == 0


@pytest.mark.parametrize("rate", [0.05, 0.30], ids=["5pct", "30pct"])
def test_fault_soak(
    rate: float,
    mount: Any,
    faults: FaultInjector,
    proxy: LoopbackProxy,
    moto_server: MotoServer,
    s3_bucket: str,
) -> None:
    mounts = [
        mount(a, lease_ttl=LEASE_TTL, wait_timeout=10, env={"AWS_ACCESS_KEY_ID": access_key(a)})
        for a in AGENTS
    ]
    agents = [
        Agent(m.agent, m.path, m.proc.pid, [p for p in AGENTS if p != m.agent], PLAN, i)
        for i, m in enumerate(mounts)
    ]
    faults.enabled = True
    outcomes = run_agents(agents)
    faults.enabled = False
    # A whole lease after the last command, on a healthy endpoint: what a
    # daemon still holds then, it renews.
    time.sleep(LEASE_TTL + inv.EXPIRY_MARGIN_S + 1)
    now = time.time()
    bucket = read_bucket(moto_server.client(), s3_bucket)  # type: ignore[no-untyped-call]

    found = inv.Findings()
    log = inv.ClaimLog(proxy.recorded(), s3_bucket, "proj", {access_key(a): a for a in AGENTS})
    inv.check_bounded(outcomes, PLAN.bound, found)
    inv.check_claims_backed(outcomes, log, found)
    inv.check_claim_history(log, found)
    inv.check_told_not_holder(outcomes, log, found)
    inv.check_final_leases(outcomes, bucket["claims"], now, found)
    inv.check_messages(outcomes, bucket["mailboxes"], found)
    inv.check_memory(outcomes, bucket["current"], bucket["history"], found)
    for m in mounts:
        if not answering(m):
            found.fail(f"{m.agent}'s daemon died or its mount stopped answering:\n{m.log_text()}")
    found.count("daemon freezes", sum(len(a.pauses) for a in agents))
    report = summary(rate, outcomes, faults, proxy, found)
    print("\n" + report)
    assert not found.violations, report + "\n" + "\n".join(found.violations)
    # The soak did soak: work got through the faults, and every kind expected
    # often enough to be seen for sure (20 times: missed with p < 1e-8) was.
    expected = len(proxy.recorded()) * rate / len(FAULT_KINDS)
    assert expected < 20 or all(faults.counts[k] for k in FAULT_KINDS), faults.counts
    assert found.figures.get("claims won", 0) and found.figures.get("memory sets acknowledged", 0)
