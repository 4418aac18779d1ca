"""The event each action records, from what the action returned (a claim, a
reservation, a handoff, a message, a memory value)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tcfs.protocol import steps
from tcfs.protocol.events.writer import EventSink

if TYPE_CHECKING:
    from tcfs.protocol.file_reservations import Reservation
    from tcfs.protocol.memory import MemoryValue
    from tcfs.protocol.messages import Message
    from tcfs.protocol.steps import Claim


def record_claim(sink: EventSink, claim: Claim) -> None:
    """A claim as ``Steps.claim`` made it: fresh, renewed, or taken over."""
    if claim.taken_from:
        sink.emit(
            "takeover",
            claim.step,
            epoch=claim.epoch,
            lease_s=claim.lease_ttl_s,
            **{"from": claim.taken_from},
        )
    else:
        sink.emit(
            "claim",
            claim.step,
            epoch=claim.epoch,
            lease_s=claim.lease_ttl_s,
            renewed=claim.renewed or None,
        )


def record_reservation(sink: EventSink, made: Reservation) -> None:
    """A reservation as ``FileReservations.reserve`` made it."""
    sink.emit(
        "reserve",
        made.name,
        epoch=made.epoch,
        globs=" ".join(made.globs),
        lease_s=made.lease_ttl_s,
        renewed=made.version > 0 or None,
        **{"from": made.taken_from},
    )


def record_handoff(sink: EventSink, step: str, doc: dict[str, Any]) -> None:
    """The handoff record ``Steps.handoff`` wrote for ``step``."""
    handoff = steps.parse_handoff(step, doc)
    sink.emit(
        "handoff",
        step,
        epoch=handoff.epoch,
        note=handoff.note,
        next_agent=handoff.next_agent,
        state=handoff.state,
    )


def record_message(sink: EventSink, msg: Message) -> None:
    kind = "broadcast" if msg.broadcast else "send"
    sink.emit(kind, msg.to, text=msg.text, key=msg.key, size=len(msg.text.encode()))


def record_memory_set(sink: EventSink, value: MemoryValue) -> None:
    sink.emit(
        "memory-set",
        value.dotted,
        value=value.value,
        set_at=value.set_at,
        size=len(value.value.encode()),
    )
