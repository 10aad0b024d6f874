"""``python -m drm``: package and decrypt fragmented MP4 (see ``drm._cli``)."""

from __future__ import annotations

import gc
import sys

from drm._cli import main

status = main()
# The work is done and its files are closed: leave the objects to the process's exit
# instead of a last garbage collection over every module (up to a second on a busy
# machine, which Ctrl-C's "stop within 2 s" cannot spare).
gc.freeze()
sys.exit(status)
