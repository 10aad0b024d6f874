"""Faults a lab CDN edge can be told to inject, and the thread-safe switch that holds them.

A fault is armed with ``FaultSwitch.set(fault, count=..., for_s=..., path_glob=...)`` and
applies to the next matching requests until its count is used up or its time runs out, so a
forgotten fault never outlives a test. Killing an edge ("die") is a server action, see
``Edge.kill``.
"""

from __future__ import annotations

import fnmatch
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from transport.errors import TransportConfigError

__all__ = [
    "ArmedFault",
    "DripFault",
    "Fault",
    "FaultSwitch",
    "ResetFault",
    "StallFault",
    "StatusFault",
    "TruncateFault",
]


def _check_non_negative(name: str, value: float) -> None:
    if value < 0:
        raise TransportConfigError(f"{name} must be >= 0, got {value}")


@dataclass(frozen=True, kw_only=True, slots=True)
class StatusFault:
    """Answer with an error status instead of the resource."""

    status: int = 503
    """HTTP status to return (4xx or 5xx)."""

    retry_after_s: float | None = None
    """Send ``Retry-After`` with this many seconds (rounded up to whole seconds), if set."""

    def __post_init__(self) -> None:
        """Validate.

        Raises:
            TransportConfigError: The status is not 4xx/5xx or the delay is negative.
        """
        if not 400 <= self.status <= 599:
            raise TransportConfigError(f"StatusFault.status must be 4xx or 5xx, got {self.status}")
        if self.retry_after_s is not None:
            _check_non_negative("StatusFault.retry_after_s", self.retry_after_s)


@dataclass(frozen=True, kw_only=True, slots=True)
class StallFault:
    """Send the headers and ``after_bytes`` of the body, pause, then send the rest."""

    after_bytes: int = 0
    """Body bytes sent before the pause."""

    stall_s: float = 10.0
    """Length of the pause; bounded so a stalled response always ends. 10 s is longer than
    any sensible client stall timeout (``Timeouts.stall_s`` is 5 s)."""

    def __post_init__(self) -> None:
        """Validate.

        Raises:
            TransportConfigError: A value is negative.
        """
        _check_non_negative("StallFault.after_bytes", self.after_bytes)
        _check_non_negative("StallFault.stall_s", self.stall_s)


@dataclass(frozen=True, kw_only=True, slots=True)
class DripFault:
    """Send the body slowly, at a fixed rate."""

    rate_bytes_per_s: float
    """Body rate in bytes per second."""

    after_bytes: int = 0
    """Body bytes sent at full speed before the drip starts."""

    max_s: float = 60.0
    """Longest a drip lasts; the rest of the body then goes at full speed, so a forgotten
    slow drip of a large file never holds a connection for long. 60 s outlasts any segment
    timeout worth testing."""

    def __post_init__(self) -> None:
        """Validate.

        Raises:
            TransportConfigError: The rate or ``max_s`` is not positive, or ``after_bytes``
                is negative.
        """
        if self.rate_bytes_per_s <= 0 or self.max_s <= 0:
            raise TransportConfigError("DripFault.rate_bytes_per_s and max_s must be positive")
        _check_non_negative("DripFault.after_bytes", self.after_bytes)


@dataclass(frozen=True, kw_only=True, slots=True)
class ResetFault:
    """Send ``after_bytes`` of the body, then reset the connection.

    TCP (HTTP/1.1, HTTP/2): a TCP RST. QUIC (HTTP/3): the connection is closed at once with
    an application error.
    """

    after_bytes: int = 0
    """Body bytes sent before the reset (0: reset right after the headers)."""

    def __post_init__(self) -> None:
        """Validate.

        Raises:
            TransportConfigError: ``after_bytes`` is negative.
        """
        _check_non_negative("ResetFault.after_bytes", self.after_bytes)


@dataclass(frozen=True, kw_only=True, slots=True)
class TruncateFault:
    """Announce the full ``Content-Length`` but send only ``after_bytes``, then end.

    HTTP/1.1: the connection is closed after the short body. HTTP/2 and HTTP/3: the stream
    ends early (cleanly), so only the length check reveals it.
    """

    after_bytes: int = 0
    """Body bytes sent before the body ends."""

    def __post_init__(self) -> None:
        """Validate.

        Raises:
            TransportConfigError: ``after_bytes`` is negative.
        """
        _check_non_negative("TruncateFault.after_bytes", self.after_bytes)


Fault = StatusFault | StallFault | DripFault | ResetFault | TruncateFault
"""Any per-request fault."""


@dataclass(kw_only=True, slots=True)
class ArmedFault:
    """A fault with its bounds, as held by a ``FaultSwitch``."""

    fault: Fault
    """What to do."""

    remaining: int | None
    """Requests it still applies to (``None``: no count limit, only the time limit)."""

    deadline: float | None
    """``time.monotonic()`` after which it no longer applies (``None``: count limit only)."""

    path_glob: str
    """``fnmatch`` pattern the request path must match."""

    applied: int = 0
    """How many requests it has been applied to."""


class FaultSwitch:
    """The faults armed on one edge. Thread-safe: set faults from any thread at run time.

    Args:
        clock: Monotonic clock in seconds (``time.monotonic`` unless a test injects one).
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._armed: list[ArmedFault] = []
        self._history: list[tuple[Fault, str]] = []

    def set(
        self,
        fault: Fault,
        *,
        count: int | None = 1,
        for_s: float | None = None,
        path_glob: str = "*",
    ) -> ArmedFault:
        """Arm a fault for the next matching requests (after those armed before it).

        Args:
            fault: The fault.
            count: How many requests it applies to; ``None`` for no count limit.
            for_s: How long it stays armed, in seconds; ``None`` for no time limit.
            path_glob: ``fnmatch`` pattern on the request path, e.g. ``"*.m4s"``.

        Returns:
            The armed fault (its ``applied`` counter shows how often it fired).

        Raises:
            TransportConfigError: Neither bound is given, or a bound is not positive.
        """
        if count is None and for_s is None:
            raise TransportConfigError("a fault needs a count or a time limit (for_s)")
        if count is not None and count < 1:
            raise TransportConfigError(f"fault count must be >= 1, got {count}")
        if for_s is not None and for_s <= 0:
            raise TransportConfigError(f"fault for_s must be positive, got {for_s}")
        deadline = None if for_s is None else self._clock() + for_s
        armed = ArmedFault(fault=fault, remaining=count, deadline=deadline, path_glob=path_glob)
        with self._lock:
            self._armed.append(armed)
        return armed

    def clear(self) -> None:
        """Disarm every fault."""
        with self._lock:
            self._armed.clear()

    def take(self, path: str) -> Fault | None:
        """Consume the first armed fault matching ``path`` (called by the app per request).

        Args:
            path: The request path.

        Returns:
            The fault to apply, or ``None``.
        """
        now = self._clock()
        with self._lock:
            self._armed = [a for a in self._armed if a.deadline is None or now < a.deadline]
            for armed in self._armed:
                if fnmatch.fnmatchcase(path, armed.path_glob):
                    armed.applied += 1
                    if armed.remaining is not None:
                        armed.remaining -= 1
                        if armed.remaining == 0:
                            self._armed.remove(armed)
                    self._history.append((armed.fault, path))
                    return armed.fault
        return None

    @property
    def armed(self) -> tuple[ArmedFault, ...]:
        """The faults still armed (expired ones may linger until the next request)."""
        with self._lock:
            return tuple(self._armed)

    @property
    def history(self) -> tuple[tuple[Fault, str], ...]:
        """Every fault applied so far, with the request path, in order."""
        with self._lock:
            return tuple(self._history)
