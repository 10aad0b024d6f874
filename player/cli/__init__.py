"""The command line (``python -m player``), the lab demo, and headless QA runs with reports.

Subcommands live in ``_cmd_<name>.py`` modules, each exposing ``register(subparsers)``.
``play_to_report`` and the report helpers are the library face of QA runs.
"""

from __future__ import annotations

from player.cli._main import main
from player.cli._qa import play_to_report
from player.cli._report import (
    CheckResult,
    Thresholds,
    add_verdict,
    build_report,
    check_thresholds,
    evaluate_checks,
    write_junit,
    write_plot,
)

__all__ = [
    "CheckResult",
    "Thresholds",
    "add_verdict",
    "build_report",
    "check_thresholds",
    "evaluate_checks",
    "main",
    "play_to_report",
    "write_junit",
    "write_plot",
]
