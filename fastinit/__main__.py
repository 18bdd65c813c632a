"""python -m fastinit: the command line (see fastinit.cli)."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
