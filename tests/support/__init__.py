"""Helpers the test packages share: servers on loopback, the loopback proxy,
real mounts, fixture sessions, stores.  Test modules import from here, never
from another ``test_*.py`` module (``tests/test_layout.py`` checks); fixtures
stay in the ``conftest.py`` files, which import the shared ones from here."""
