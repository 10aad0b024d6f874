"""The command line (``python -m player``), the lab demo, and headless QA runs with reports.

Subcommands live in ``_cmd_<name>.py`` modules, each exposing ``register(subparsers)``.
``play_to_report`` and the report helpers are the library face of QA runs.
"""

from __future__ import annotations

from player.cli._main import main
from player.cli._qa import play_to_report
from player.cli._report import Thresholds, build_report, check_thresholds, write_junit, write_plot

__all__ = [
    "Thresholds",
    "build_report",
    "check_thresholds",
    "main",
    "play_to_report",
    "write_junit",
    "write_plot",
]
