"""The coordination model as a plain Python API, with no FUSE in it.

``Project(store, agent)`` bundles agents, steps (leased claims with fencing),
messages (with the CLI-compatible durable cursor), memory, artifacts and file
reservations.  The keys and JSON fields are those of the ``tracecraft`` CLI
(tracecraft-ai 0.2.5); see ``keys.py``.  Every call blocks; the filesystem runs them in threads.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from tcfs import names
from tcfs.protocol import keys
from tcfs.protocol.after import AfterAnswer
from tcfs.protocol.agents import AgentRecord, Agents
from tcfs.protocol.artifacts import Artifacts
from tcfs.protocol.doorbells import Doorbells
from tcfs.protocol.file_reservations import FileReservations, Reservation
from tcfs.protocol.memory import Memory, MemoryValue
from tcfs.protocol.messages import Message, Messages
from tcfs.protocol.steps import STATUSES, Claim, Steps, StepStatus
from tcfs.protocol.waiting import Waiting
from tcfs.store.base import Store

__all__ = [
    "STATUSES",
    "AfterAnswer",
    "AgentRecord",
    "Agents",
    "Artifacts",
    "Claim",
    "Doorbells",
    "FileReservations",
    "Memory",
    "MemoryValue",
    "Message",
    "Messages",
    "Project",
    "Reservation",
    "StepStatus",
    "Steps",
    "Waiting",
]


class Project:
    """One agent's view of one project in one bucket."""

    def __init__(
        self,
        store: Store,
        agent: str,
        *,
        lease_ttl: float = 60.0,
        clock: Callable[[], float] = time.time,
        ticks: Callable[[], float] = time.monotonic,
        after: AfterAnswer | None = None,
    ) -> None:
        self.store = store
        self.agent = names.agent_id(agent)
        self.lease_ttl = lease_ttl
        #: writes sent after the caller has its answer, ordered per subject (a
        #: mount's); None: every write is sent before the call returns
        self.after = after
        # Sends and final statuses ring doorbells, so blocked readers poll a
        # small object instead of listing (see doorbells.py).
        self.bells = Doorbells(store, agent)
        self.agents = Agents(store, agent, clock=clock)
        self.steps = Steps(
            store,
            agent,
            lease_ttl=lease_ttl,
            clock=clock,
            ticks=ticks,
            after=after,
            bells=self.bells,
        )
        self.messages = Messages(store, agent, bells=self.bells)
        self.memory = Memory(store, agent)
        self.artifacts = Artifacts(store, journal=keys.uploads_prefix(self.agent))
        self.waiting = Waiting(self.steps, self.bells)
        self.reservations = FileReservations(store, agent, lease_ttl=lease_ttl)

    def close(self, timeout: float = 2.0) -> None:
        """Send the rings still due (within ``timeout``); the store stays open."""
        self.bells.close(timeout)
