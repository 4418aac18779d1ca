"""The event log: who did what, when, as a per-agent hash chain under ``events/``.

Every coordination action a mount takes is recorded as an event after the
action succeeded; a background writer appends them in batches, one object per
flush (``events/<ns>_<agent>_<uuid8>.json``), at least once, and readers
deduplicate by id.  Each event carries its agent's sequence number and the
hash of that agent's previous event, so a reader can name gaps, edits and
forgeries.  The ``tracecraft`` CLI writes no events: readers derive them from
its records.

- ``event``: the event record, its hash, and its form in a batch
- ``batches``: the batch objects on the bucket (encode, parse, list, read)
- ``words``: an event as one line of ``events`` on the mount
- ``writer``: where an action's event goes (``EventSink``, ``EventWriter``)
- ``actions``: the event each action's result records
- ``cli_records``: events derived from the CLI's messages, memory and steps
- ``reader``: the whole log, and the tail that follows it
- ``verify``: the chain check of ``tcfs replay --verify``
"""
