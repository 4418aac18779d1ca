"""The harness conformance suite and the harness installs' tests; the helpers are in
``tests/support/harnesses``."""
