"""``python -m ubemu``: the command line of :mod:`ubemu.cli`."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
