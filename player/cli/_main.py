"""The ``python -m player`` command line: a dispatcher over subcommand modules.

Each subcommand lives in its own ``player/cli/_cmd_<name>.py`` module exposing
``register(subparsers) -> None``; the subparser's ``func`` default takes the parsed
namespace and returns the exit status. This is the one synchronous entry point of the SDK.
"""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import sys
from collections.abc import Sequence

import player.cli
from player.cli._args import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_USAGE,
    BadInput,
    Parser,
    fail,
    internal_error,
    quiet_quic_logs,
)
from player.errors import SDK_ERRORS, ManifestError, UsageError

__all__ = ["main"]

_DESCRIPTION = (
    "Play, inspect and test adaptive streams (HLS and DASH): headless QA playback with "
    "reports, the lab demo, QA content, and the lab's license and session services."
)
_EPILOG = (
    "Exit status: 0 success, 1 playback or a check failed, 2 bad input, 130 interrupted "
    "(Ctrl-C). Run 'python -m player COMMAND --help' for a command's options."
)


def build_parser() -> argparse.ArgumentParser:
    """Build the parser with every ``_cmd_*`` module's subcommands registered."""
    parser = Parser(prog="python -m player", description=_DESCRIPTION, epilog=_EPILOG)
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
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
        The process exit status (0 success, 1 failure, 2 bad input or usage,
        130 interrupted).
    """
    quiet_quic_logs()
    parser = build_parser()
    args = parser.parse_args(argv)
    prog: str = getattr(args, "prog", parser.prog)
    try:
        status: int = args.func(args)
    except KeyboardInterrupt:
        return fail(prog, "interrupted", EXIT_INTERRUPTED)
    except BrokenPipeError:
        # The reader went away (e.g. `| head`): stop quietly, as other tools do.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_FAILED
    except (BadInput, ManifestError, UsageError, ValueError) as exc:
        return fail(prog, exc, EXIT_USAGE)
    except SDK_ERRORS as exc:
        return fail(prog, f"{type(exc).__name__}: {exc}", EXIT_FAILED)
    except OSError as exc:
        return fail(prog, exc, EXIT_FAILED)
    except Exception as exc:  # one line, never a traceback (STREAMSDK_TRACEBACK=1 shows it)
        return internal_error(prog, exc)
    return status
