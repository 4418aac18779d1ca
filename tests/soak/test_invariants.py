"""The soak's checks catch what they are there to catch (synthetic histories)."""

from __future__ import annotations

import json

from tests.soak import invariants as inv
from tests.soak.workload import Outcome
from tests.support.loopback_proxy import Request

KEYS = {"soak-alice": "alice", "soak-bob": "bob"}
T0 = 1_000_000.0


def _auth(agent: str) -> tuple[str, str]:
    return ("Authorization", f"AWS4-HMAC-SHA256 Credential=soak-{agent}/20260101/us-east-1/s3")


def claim_write(
    agent: str,
    t: float,
    etag: str,
    *,
    epoch: int,
    expires: float,
    cond: tuple[str, str],
    lease_id: str | None = None,
) -> Request:
    body = {
        "agent": agent,
        "epoch": epoch,
        "expires_at": expires,
        "lease_ttl_s": 5.0,
        "lease_id": lease_id or f"{agent}{epoch}",
    }
    return Request(
        "PUT",
        "/b/proj/steps/s1/claim.json",
        [_auth(agent), cond],
        json.dumps(body).encode(),
        t=t,
        t_done=t + 0.01,
        status=200,
        etag=etag,
    )


def claimed(agent: str, start: float, result: str = "ok") -> Outcome:
    rc, err = (0, "") if result == "ok" else (1, "bash: steps/s1/claim: File exists\n")
    return Outcome(agent, "claim", "s1", "", start, start + 0.1, rc, err)


def check(outcomes: list[Outcome], writes: list[Request]) -> list[str]:
    found = inv.Findings()
    log = inv.ClaimLog(writes, "b", "proj", KEYS)
    inv.check_claims_backed(outcomes, log, found)
    inv.check_claim_history(log, found)
    inv.check_told_not_holder(outcomes, log, found)
    return found.violations


def test_a_clean_claim_history_passes() -> None:
    writes = [
        claim_write("alice", T0 + 0.05, "e1", epoch=1, expires=T0 + 5, cond=("If-None-Match", "*")),
        claim_write("bob", T0 + 8, "e2", epoch=2, expires=T0 + 13, cond=("If-Match", "e1")),
    ]
    outcomes = [claimed("alice", T0), claimed("bob", T0 + 1, "EEXIST"), claimed("bob", T0 + 7.95)]
    assert check(outcomes, writes) == []
    assert "bash: steps/s1/claim: File exists" in outcomes[1].stderr
    assert outcomes[1].result == "EEXIST"


def test_a_takeover_of_a_live_lease_is_caught() -> None:
    writes = [
        claim_write("alice", T0 + 0.05, "e1", epoch=1, expires=T0 + 5, cond=("If-None-Match", "*")),
        claim_write("bob", T0 + 4.5, "e2", epoch=2, expires=T0 + 9.5, cond=("If-Match", "e1")),
    ]
    found = check([claimed("alice", T0), claimed("bob", T0 + 4.45)], writes)
    assert any("while its lease was live" in v for v in found)


def test_an_epoch_raised_at_claim_passes_and_a_new_lease_in_a_renewal_is_caught() -> None:
    # alice's fresh claim met a status of epoch 3 and rewrote itself at epoch 4:
    # the same lease, fenced higher
    raised = [
        claim_write("alice", T0 + 0.05, "e1", epoch=1, expires=T0 + 5, cond=("If-None-Match", "*")),
        claim_write(
            "alice", T0 + 0.08, "e2", epoch=4, expires=T0 + 5, cond=("If-Match", "e1"), lease_id="L"
        ),
    ]
    raised[0].body = raised[0].body.replace(b'"alice1"', b'"L"')
    assert check([claimed("alice", T0)], raised) == []
    lower = [
        raised[0],
        claim_write("alice", T0 + 1, "e3", epoch=1, expires=T0 + 6, cond=("If-Match", "e1")),
    ]
    found = check([claimed("alice", T0)], lower)
    assert any("alice renewed s1 under another epoch or lease id" in v for v in found)


def test_a_win_without_a_write_and_a_loss_while_holding_are_caught() -> None:
    writes = [
        claim_write("alice", T0 + 0.05, "e1", epoch=1, expires=T0 + 5, cond=("If-None-Match", "*"))
    ]
    found = check([claimed("bob", T0 + 1), claimed("alice", T0 + 2, "EEXIST")], writes)
    assert any("bob was told it won s1" in v for v in found)
    assert any("alice was told EEXIST" in v and "live lease" in v for v in found)


def test_lost_and_phantom_messages_and_values_are_caught() -> None:
    sent = Outcome("alice", "send", "bob", "hello", T0, T0 + 0.1, 0, "")
    found = inv.Findings()
    inv.check_messages([sent], {"bob": [{"from": "alice", "message": "forged"}]}, found)
    assert any("acknowledged, lost" in v for v in found.violations)
    assert any("nobody sent" in v for v in found.violations)

    set_ = Outcome("alice", "set", "k1", "v1", T0, T0 + 0.1, 0, "")
    found = inv.Findings()
    inv.check_memory([set_], {"k1": "v0"}, {"k1": []}, found)
    assert len(found.violations) == 3  # v1 lost; v0 never set, and without history
