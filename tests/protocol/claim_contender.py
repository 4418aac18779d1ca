"""One contender in a claim race: builds its own store and Project, then claims
every step in turn, meeting the other contenders at a barrier before each one.

Used from threads and from processes started with the ``spawn`` context, so it
imports nothing from the test suite and takes only picklable arguments.
"""

from __future__ import annotations

from typing import Any


def open_store(spec: dict[str, Any]):  # type: ignore[no-untyped-def]
    if spec["kind"] == "local":
        from tcfs.store.local import LocalStore

        return LocalStore(spec["root"], spec["project"])
    from tcfs.store.s3 import S3Store

    return S3Store(
        spec["bucket"],
        spec["project"],
        endpoint=spec["endpoint"],
        region="us-east-1",
        path_style=True,
    )


def contend(spec: dict[str, Any], agent: str, steps: list[str], barrier: Any) -> dict[str, Any]:
    """Claim each step; returns {"won": [...], "lost": {step: holder}, "errors": [...]}."""
    from tcfs.errors import ClaimTaken, TcfsError
    from tcfs.protocol import Project

    store = open_store(spec)
    project = Project(store, agent, lease_ttl=600.0)
    won: list[str] = []
    lost: dict[str, str | None] = {}
    errors: list[str] = []
    try:
        barrier.wait(timeout=120)
        for step in steps:
            barrier.wait(timeout=60)
            try:
                project.steps.claim(step)
            except ClaimTaken as exc:
                lost[step] = exc.holder
            except TcfsError as exc:
                errors.append(f"{step}: {type(exc).__name__}: {exc}")
            else:
                won.append(step)
    finally:
        store.close()
    return {"agent": agent, "won": won, "lost": lost, "errors": errors}


def contend_to_queue(
    spec: dict[str, Any], agent: str, steps: list[str], barrier: Any, queue: Any
) -> None:
    """Process entry point: the result (or the failure) goes to ``queue``."""
    try:
        queue.put(contend(spec, agent, steps, barrier))
    except BaseException as exc:  # report, never hang the parent
        queue.put({"agent": agent, "fatal": f"{type(exc).__name__}: {exc}"})
