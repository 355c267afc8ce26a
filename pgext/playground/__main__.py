"""``python -m pgext.playground`` (``scripts/playground``): see
:mod:`pgext.playground.cli`."""

from __future__ import annotations

import sys

from pgext.playground.cli import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
