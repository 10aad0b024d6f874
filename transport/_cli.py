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
from collections.abc import Sequence

import transport
from transport._cliargs import (
    EXIT_INTERRUPTED,
    EXIT_USAGE,
    Parser,
    internal_error,
    quiet_quic_logs,
)
from transport._cliargs import fail as _fail

__all__ = ["main"]

DESCRIPTION = """\
Download over HTTP/3 or HTTP/1.1-2 with CDN failover, and run the lab CDN that the
SDK's tests and demos use.

Run "python -m transport COMMAND --help" for the options of a command.
Exit status: 0 success, 1 the network or server failed, 2 bad input, 130 interrupted."""


CliParser = Parser
"""The package's parser: errors are one line, ``<prog>: error: <what> (see --help)``."""


def fail(message: str, prog: str = "python -m transport") -> int:
    """Print one ``<prog>: error: <message>`` line on stderr and return exit status 2.

    Args:
        message: What is wrong, naming the file, URL or option.
        prog: The command (``python -m transport fetch``...).

    Returns:
        2.
    """
    return _fail(prog, message, EXIT_USAGE)


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
    quiet_quic_logs()
    parser = build_parser()
    args = parser.parse_args(argv)
    prog = f"{parser.prog} {args.command}"
    try:
        status: int = args.func(args)
    except KeyboardInterrupt:
        return _fail(prog, "interrupted", EXIT_INTERRUPTED)
    except Exception as exc:  # one line, never a traceback (STREAMSDK_TRACEBACK=1 shows it)
        return internal_error(prog, exc)
    return status
