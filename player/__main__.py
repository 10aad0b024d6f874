"""``python -m player``: the command line (see ``player.cli._main``)."""

from __future__ import annotations

import sys

from player.cli._main import main

sys.exit(main())
