"""``python -m abr``: simulate and compare ABR algorithms on throughput traces."""

from __future__ import annotations

import sys

from abr._cli import main

if __name__ == "__main__":
    sys.exit(main())
