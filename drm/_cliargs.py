"""Command-line conventions of ``python -m drm`` (the same pattern in every package's CLI).

Every command line of the SDK speaks with one voice (docs/errors.md, "Command lines"): bad
input is one line on stderr, ``<prog>: error: <what>``, naming the thing, and exit status 2 —
never a traceback, never key material; output paths are checked (their folders created)
while arguments are parsed, before any work; Ctrl-C exits 130. ``drm`` may not import
the other packages, so it keeps this small copy of ``player/cli/_args.py``.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import NoReturn
from urllib.parse import urlsplit

from drm._hls_key import describe_key_uri as _shown

__all__: list[str] = []

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
TRACEBACK_ENV = "STREAMSDK_TRACEBACK"
"""Set to 1 to get the traceback of an unexpected error instead of one line."""


class BadInput(Exception):
    """Bad command-line input found after parsing; the message names the thing (exit 2)."""


class Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line (``<prog>: error: <message>``), exit 2."""

    def error(self, message: str) -> NoReturn:
        """Print one line naming the bad argument and exit with status 2."""
        self.exit(EXIT_USAGE, f"{self.prog}: error: {one_line(message)} (see --help)\n")


def one_line(text: object) -> str:
    """Return ``text`` with every run of whitespace (newlines too) as one space."""
    return " ".join(str(text).split())


def say(prog: str, message: object) -> None:
    """Print ``<prog>: error: <message>`` on stderr as one line."""
    print(f"{prog}: error: {one_line(message)}", file=sys.stderr, flush=True)


def fail(prog: str, message: object, status: int = EXIT_USAGE) -> int:
    """Print one error line and return ``status`` (2 by default)."""
    say(prog, message)
    return status


def internal_error(prog: str, exc: BaseException) -> int:
    """Report an unexpected exception as one line (exit 1); re-raise when debugging."""
    if os.environ.get(TRACEBACK_ENV) == "1":
        raise exc
    say(prog, f"internal error: {type(exc).__name__}: {exc} (set {TRACEBACK_ENV}=1 for details)")
    return EXIT_FAILED


# -- argparse types: each raises ArgumentTypeError naming the value ----------------------------


def _reason(exc: OSError) -> str:
    return exc.strerror or type(exc).__name__


def input_file(text: str) -> Path:
    """An existing, readable file."""
    path = Path(text).expanduser()
    if not path.exists():
        raise argparse.ArgumentTypeError(f"no such file: {text}")
    if path.is_dir():
        raise argparse.ArgumentTypeError(f"{text} is a directory, not a file")
    try:
        with path.open("rb") as handle:
            handle.read(1)
    except OSError as exc:
        raise argparse.ArgumentTypeError(f"cannot read {text}: {_reason(exc)}") from exc
    return path


def pem_file(text: str) -> str:
    """An existing, readable PEM file holding at least one certificate (a CA)."""
    path = input_file(text)
    try:
        data = path.read_bytes()[: 1 << 20]
    except OSError as exc:
        raise argparse.ArgumentTypeError(f"cannot read {text}: {_reason(exc)}") from exc
    if b"-----BEGIN CERTIFICATE-----" not in data:
        raise argparse.ArgumentTypeError(f"{text} is not a PEM certificate file")
    return str(path)


def input_dir(text: str) -> Path:
    """An existing directory."""
    path = Path(text).expanduser()
    if not path.exists():
        raise argparse.ArgumentTypeError(f"no such directory: {text}")
    if not path.is_dir():
        raise argparse.ArgumentTypeError(f"{text} is not a directory")
    return path


def output_file(text: str) -> Path:
    """A file the command will write: its folder is created now and must be writable."""
    path = Path(text).expanduser()
    if path.is_dir():
        raise argparse.ArgumentTypeError(f"{text} is a directory, not a file")
    _writable_dir(path.parent, text)
    if path.exists() and not os.access(path, os.W_OK):
        raise argparse.ArgumentTypeError(f"cannot write {text}: permission denied")
    return path


def output_dir(text: str) -> Path:
    """A folder the command will write into: created now, must be writable."""
    path = Path(text).expanduser()
    if path.exists() and not path.is_dir():
        raise argparse.ArgumentTypeError(f"{text} exists and is not a directory")
    _writable_dir(path, text)
    return path


def _writable_dir(folder: Path, text: str) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise argparse.ArgumentTypeError(
            f"cannot create the folder for {text}: {_reason(exc)}"
        ) from exc
    if not os.access(folder, os.W_OK | os.X_OK):
        raise argparse.ArgumentTypeError(f"cannot write into the folder of {text}")


def http_url(text: str) -> str:
    """An absolute http or https URL."""
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise argparse.ArgumentTypeError(f"not an http(s) URL: {_shown(text)!r}")
    try:
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"bad port in URL {_shown(text)!r}") from exc
    return text


def _number(text: str, kind: type[float] | type[int], what: str) -> float:
    try:
        value = kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise argparse.ArgumentTypeError(f"{text!r} is not {what}")
    return value


def positive_float(text: str) -> float:
    """A number > 0."""
    value = _number(text, float, "a number")
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be a number greater than 0")
    return value


def non_negative_float(text: str) -> float:
    """A number >= 0."""
    value = _number(text, float, "a number")
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be a number of at least 0")
    return value


def positive_int(text: str) -> int:
    """A whole number >= 1."""
    value = int(_number(text, int, "a whole number"))
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be at least 1")
    return value


def non_negative_int(text: str) -> int:
    """A whole number >= 0."""
    value = int(_number(text, int, "a whole number"))
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} must not be negative")
    return value


def ratio(text: str) -> float:
    """A number from 0 to 1."""
    value = _number(text, float, "a number")
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be a number from 0 to 1")
    return value
