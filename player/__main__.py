"""``python -m player``: the command line (see ``player._cli``)."""

from __future__ import annotations

import sys

from player._cli import main

sys.exit(main())
