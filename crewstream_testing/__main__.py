"""``python -m crewstream_testing``: the ``crewstream`` command."""

from __future__ import annotations

import sys

from crewstream_testing.cli import main

if __name__ == "__main__":
    sys.exit(main())
