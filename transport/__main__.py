"""``python -m transport``: the command line (see ``transport._cli``)."""

from __future__ import annotations

import sys

from transport._cli import main

sys.exit(main())
