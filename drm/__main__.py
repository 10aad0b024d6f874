"""``python -m drm``: package and decrypt fragmented MP4 (see ``drm._cli``)."""

from __future__ import annotations

import sys

from drm._cli import main

sys.exit(main())
