"""``python -m tcfs.hooks HARNESS EVENT --mount MOUNTPOINT``: one hook call."""

import sys

from tcfs.hooks.run import main

main(sys.argv[1:])
