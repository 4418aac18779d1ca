"""One hook call: ``python -m tcfs.hooks HARNESS EVENT --mount MOUNTPOINT``.

``tcfs hooks install`` writes the faster form ``python -I -S
.../tcfs/hooks/__main__.py HARNESS EVENT --mount M``: no site packages to
scan (a hook needs only the standard library and tcfs's own code), so the
directory that holds ``tcfs`` is put on the path here.
"""

import os
import sys

if not __package__:  # run as a file
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

from tcfs.hooks.run import main  # after the path is set

main(sys.argv[1:])
