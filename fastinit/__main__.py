"""python -m fastinit: the command line (see fastinit.cli)."""

import sys

from .cli import main

sys.exit(main())
