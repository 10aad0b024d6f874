"""Session clocks: the real one for watching, a virtual one for headless QA and tests.

A clock gives monotonic seconds (``now()``) and sleeps (``sleep(delay_s)``). The session
owns the clock and hands ``now`` to the sans-I/O cores (abr, drm, manifest).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol

__all__ = ["Clock", "RealClock", "VirtualClock"]


class Clock(Protocol):
    """What the session needs of a clock."""

    def now(self) -> float:
        """Return monotonic seconds."""
        ...

    async def sleep(self, delay_s: float) -> None:
        """Let ``delay_s`` seconds of session time pass."""
        ...

    @contextmanager
    def busy(self) -> Iterator[None]:
        """Mark real work in flight (a download): time must pass for real meanwhile."""
        ...


class RealClock:
    """Wall time: ``time.monotonic`` and ``asyncio.sleep``."""

    def now(self) -> float:
        """Return ``time.monotonic()``."""
        return time.monotonic()

    async def sleep(self, delay_s: float) -> None:
        """Sleep for real.

        Args:
            delay_s: Seconds; negative values sleep zero.
        """
        await asyncio.sleep(max(0.0, delay_s))

    @contextmanager
    def busy(self) -> Iterator[None]:
        """No-op on the real clock."""
        yield


class VirtualClock:
    """Session time that runs with real time while work is in flight and jumps otherwise.

    Downloads and decoding take their real time, so throughput, startup and stall
    figures keep their real-time relation to transfer times; waiting for the playhead
    to drain a full buffer costs nothing, so a 10-minute VOD plays through in seconds.

    >>> clock = VirtualClock(start_s=100.0)
    >>> import asyncio
    >>> asyncio.run(clock.sleep(30.0))
    >>> round(clock.now() - 100.0) >= 30
    True
    """

    def __init__(self, *, start_s: float = 0.0) -> None:
        self._origin = time.monotonic()
        self._start_s = start_s
        self._skipped_s = 0.0
        self._busy = 0

    def now(self) -> float:
        """Return session seconds: start + real elapsed + time skipped by sleeps."""
        return self._start_s + (time.monotonic() - self._origin) + self._skipped_s

    async def sleep(self, delay_s: float) -> None:
        """Jump ahead by ``delay_s`` when idle; sleep for real while work is in flight.

        Args:
            delay_s: Seconds; negative values sleep zero.
        """
        delay_s = max(0.0, delay_s)
        if self._busy:
            await asyncio.sleep(delay_s)
            return
        self._skipped_s += delay_s
        await asyncio.sleep(0)

    @contextmanager
    def busy(self) -> Iterator[None]:
        """Mark real work in flight; sleeps meanwhile take real time."""
        self._busy += 1
        try:
            yield
        finally:
            self._busy -= 1
