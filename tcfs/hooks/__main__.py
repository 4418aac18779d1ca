"""One hook call: ``python -m tcfs.hooks HARNESS EVENT --mount MOUNTPOINT``.

``tcfs hooks install`` writes the faster form ``python -I -S
.../tcfs/hooks/__main__.py HARNESS EVENT --mount M``: no site packages to
scan (a hook needs only the standard library and tcfs's own code), so the
directory that holds ``tcfs`` is put on the path here.  ``git --mount M`` is
the git guard's pre-commit check (``tcfs.hooks.gitguard``).
"""

import os
import sys

if not __package__:  # run as a file
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

if sys.argv[1:2] == ["git"]:  # the git guard's pre-commit check
    from tcfs.hooks.gitguard import main as check_commit

    code = check_commit(sys.argv[2:])
    sys.stderr.flush()
    os._exit(code)  # a read stuck on a hung mount must not hold the exit

from tcfs.hooks.run import main  # after the path is set

main(sys.argv[1:])
