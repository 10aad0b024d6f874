"""``python -m abr``: simulate and compare ABR algorithms on throughput traces."""

from __future__ import annotations

import gc
import sys

from abr._cli import main

if __name__ == "__main__":
    status = main()
    # The work is done and its files are closed: leave the objects to the process's exit
    # instead of a last garbage collection over every module (up to a second on a busy
    # machine, which Ctrl-C's "stop within 2 s" cannot spare).
    gc.freeze()
    sys.exit(status)
