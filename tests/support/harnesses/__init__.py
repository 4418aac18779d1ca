"""The real harness programs: pinned installs, how each runs against the fake
model, where each keeps its sessions, and their recorded fixtures."""
