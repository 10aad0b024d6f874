"""The ``python -m player`` command line: a dispatcher over subcommand modules.

Each subcommand lives in its own ``player/cli/_cmd_<name>.py`` module exposing
``register(subparsers) -> None``; the subparser's ``func`` default takes the parsed
namespace and returns the exit status. This is the one synchronous entry point of the SDK.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
from collections.abc import Sequence

import player.cli

__all__ = ["main"]


def build_parser() -> argparse.ArgumentParser:
    """Build the parser with every ``_cmd_*`` module's subcommands registered."""
    parser = argparse.ArgumentParser(prog="python -m player", description=__doc__.splitlines()[0])
    subparsers = parser.add_subparsers(dest="command", required=True)
    for info in sorted(pkgutil.iter_modules(player.cli.__path__), key=lambda m: m.name):
        if info.name.startswith("_cmd_"):
            module = importlib.import_module(f"player.cli.{info.name}")
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
