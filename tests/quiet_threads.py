"""Pytest plugin: background threads never format full tracebacks during tests.

CPython 3.11 before 3.11.9 (gh-106905) keeps the AST validator's recursion counter per
interpreter, not per thread, and 3.11's traceback formatting parses source lines with
``ast`` to draw carets. A lab server thread that logs a traceback while the main thread
parses source (pytest's assertion rewriting, traceback reports, tests/test_layering.py)
can then crash the run with "SystemError: AST constructor recursion depth mismatch".
Outside the main thread, log records and dying threads are reported with the exception's
type and message only; the main thread keeps full tracebacks.
"""

from __future__ import annotations

import logging
import sys
import threading
import traceback
from types import TracebackType

_ExcInfo = tuple[type[BaseException], BaseException, TracebackType | None]
_original_format_exception = logging.Formatter.formatException


def _format_exception(self: logging.Formatter, ei: _ExcInfo) -> str:  # type: ignore[override]
    if threading.current_thread() is threading.main_thread():
        return _original_format_exception(self, ei)
    return "".join(traceback.format_exception_only(ei[0], ei[1])).rstrip()


def _thread_excepthook(args: threading.ExceptHookArgs) -> None:
    name = args.thread.name if args.thread is not None else "?"
    text = "".join(traceback.format_exception_only(args.exc_type, args.exc_value)).rstrip()
    print(f"thread {name} died: {text}", file=sys.stderr)


def pytest_configure(config: object) -> None:
    """Install the quiet formatters for the whole run."""
    logging.Formatter.formatException = _format_exception  # type: ignore[method-assign,assignment]
    threading.excepthook = _thread_excepthook
