import sys

from tcfs.cli import main

sys.exit(main())
