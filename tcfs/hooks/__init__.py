"""Agents in the loop: mail reaches an agent's next turn through its harness's hooks.

``tcfs hooks install HARNESS --mount M`` writes the harness's own hook
configuration (``hookfile``, ``yamlblock``, or ``pluginfile`` for a plugin
file tcfs owns whole); the harness (or that plugin) then runs ``python -m tcfs.hooks
HARNESS EVENT --mount M`` (``run``), which reads only the mount (``mount``),
builds what goes into the agent's context (``context``), answers in the
harness's format (one module per harness) and finishes within its deadline
(``bounded``) whatever the mount does.  This package imports nothing heavy:
a hook call starts in a few tens of milliseconds.
"""
