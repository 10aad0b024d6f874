"""Pytest plugin: every test (and every process it starts) takes Ctrl-C as a terminal does.

The Ctrl-C tests start ``python -m ...`` and send it SIGINT. A child inherits an *ignored*
SIGINT, or a SIGINT blocked in the signal mask, across ``exec``; Python then installs no
``KeyboardInterrupt`` handler in it and the command never sees the Ctrl-C. That happens
when the run itself was started in the background by a non-interactive shell (``cmd &``
in a CI script: POSIX ignores SIGINT there), or when something earlier in the same worker
process left SIGINT ignored or blocked. Before each test SIGINT is put back to Python's
default handler and unblocked, so what a test checks never depends on what ran before it.
``STREAMSDK_SIGINT_LOG`` names a file where each such repair is recorded (to find the cause).
"""

from __future__ import annotations

import os
import signal
from typing import Any


def _repair(where: str) -> None:
    found = []
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
        found.append("ignored")
    if signal.SIGINT in signal.pthread_sigmask(signal.SIG_BLOCK, []):
        signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGINT])
        found.append("blocked")
    log = os.environ.get("STREAMSDK_SIGINT_LOG")
    if found and log:
        with open(log, "a", encoding="utf-8") as handle:
            handle.write(f"{os.getpid()} before {where}: SIGINT {' and '.join(found)}\n")


def pytest_configure(config: Any) -> None:
    """Repair SIGINT once for the run."""
    _repair("the run")


def pytest_runtest_setup(item: Any) -> None:
    """Repair SIGINT before each test."""
    _repair(item.nodeid)
