"""The ``python -m transport`` command line: a dispatcher over subcommand modules.

Each subcommand lives in its own ``transport/_cli_<name>.py`` module exposing
``register(subparsers) -> None``; the subparser's ``func`` default takes the parsed
namespace and returns the exit status (``lab`` serves the lab CDN, ``fetch`` downloads).

Bad input (a missing file, a bad URL, a bad option value) is reported as one line on
stderr naming the thing, with exit status 2, and never as a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from collections.abc import Sequence
from typing import NoReturn

import transport

__all__ = ["main"]

DESCRIPTION = """\
Download over HTTP/3 or HTTP/1.1-2 with CDN failover, and run the lab CDN that the
SDK's tests and demos use.

Run "python -m transport COMMAND --help" for the options of a command.
Exit status: 0 success, 1 the network or server failed, 2 bad input, 130 interrupted."""


class CliParser(argparse.ArgumentParser):
    """An argument parser whose errors are one line on stderr (exit status 2)."""

    def error(self, message: str) -> NoReturn:
        """Report a usage error in one line and exit with status 2.

        Args:
            message: What argparse found wrong.
        """
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def positive_int(text: str) -> int:
    """Argument type: an integer of at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be at least 1")
    return value


def non_negative_int(text: str) -> int:
    """Argument type: an integer of at least 0."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} must not be negative")
    return value


def positive_float(text: str) -> float:
    """Argument type: a finite number greater than 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r} must be a number greater than 0")
    return value


def non_negative_float(text: str) -> float:
    """Argument type: a finite number of at least 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r} must be a number of at least 0")
    return value


def fail(message: str) -> int:
    """Print one ``error:`` line on stderr and return exit status 2 (bad input).

    Args:
        message: What is wrong, naming the file, URL or option.

    Returns:
        2.
    """
    print(f"error: {message}", file=sys.stderr)
    return 2


def build_parser() -> argparse.ArgumentParser:
    """Build the parser with every ``_cli_*`` module's subcommands registered."""
    parser = CliParser(
        prog="python -m transport",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    subparsers = parser.add_subparsers(
        dest="command", required=True, metavar="COMMAND", parser_class=CliParser
    )
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
        The process exit status (0 success, 1 failure, 2 bad input or usage, 130 interrupted).
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        status: int = args.func(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return status
