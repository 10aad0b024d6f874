"""The ``python -m transport`` command line: a dispatcher over subcommand modules.

Each subcommand lives in its own ``transport/_cli_<name>.py`` module exposing
``register(subparsers) -> None``; the subparser's ``func`` default takes the parsed
namespace and returns the exit status (``lab`` serves the lab CDN, ``fetch`` downloads).
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
from collections.abc import Sequence

import transport

__all__ = ["main"]


def build_parser() -> argparse.ArgumentParser:
    """Build the parser with every ``_cli_*`` module's subcommands registered."""
    parser = argparse.ArgumentParser(
        prog="python -m transport", description=(__doc__ or "").splitlines()[0]
    )
    subparsers = parser.add_subparsers(dest="command", required=True)
    for info in sorted(pkgutil.iter_modules(transport.__path__), key=lambda m: m.name):
        if info.name.startswith("_cli_"):
            module = importlib.import_module(f"transport.{info.name}")
            module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line.

    Args:
        argv: Arguments without the program name; ``None`` reads ``sys.argv``.

    Returns:
        The process exit status (0 success, 1 failure, 2 bad input or usage).
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    status: int = args.func(args)
    return status
