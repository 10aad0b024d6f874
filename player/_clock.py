"""Session clocks: the real one for watching, a virtual one for headless QA and tests.

A clock gives monotonic seconds (``now()``) and sleeps (``sleep(delay_s)``). The session
owns the clock and hands ``now`` to the sans-I/O cores (abr, drm, manifest).
"""

from __future__ import annotations

import asyncio
import heapq
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

    Downloads and decoding take their real time (callers wrap them in ``busy()``), so
    throughput, startup and stall figures keep their real-time relation to transfer
    times. When every task is asleep and nothing is busy, the clock jumps straight to the
    earliest wake-up: waiting for the playhead to drain a full buffer costs nothing, so a
    10-minute VOD plays through in seconds. Concurrent sleepers share one timeline.

    >>> import asyncio
    >>> clock = VirtualClock(start_s=100.0)
    >>> async def two_sleepers() -> float:
    ...     await asyncio.gather(clock.sleep(30.0), clock.sleep(10.0))
    ...     return clock.now()
    >>> 130.0 <= asyncio.run(two_sleepers()) < 131.0
    True
    """

    _SETTLE_HOPS = 3
    """Loop iterations to wait before jumping, so tasks made ready just now can go busy."""

    def __init__(self, *, start_s: float = 0.0) -> None:
        self._origin = time.monotonic()
        self._start_s = start_s
        self._skipped_s = 0.0
        self._busy = 0
        self._sequence = 0
        self._waiters: list[tuple[float, int, asyncio.Future[None]]] = []
        self._timer: asyncio.TimerHandle | None = None
        self._pending_hops = 0

    def now(self) -> float:
        """Return session seconds: start + real elapsed + time skipped while idle."""
        return self._start_s + (time.monotonic() - self._origin) + self._skipped_s

    async def sleep(self, delay_s: float) -> None:
        """Wait until ``delay_s`` seconds of session time have passed.

        Args:
            delay_s: Seconds; negative values sleep zero.
        """
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        self._sequence += 1
        heapq.heappush(self._waiters, (self.now() + max(0.0, delay_s), self._sequence, future))
        self._schedule(loop)
        try:
            await future
        finally:
            if not future.done():
                future.cancel()

    @contextmanager
    def busy(self) -> Iterator[None]:
        """Mark real work in flight; time runs for real until it ends."""
        self._busy += 1
        try:
            yield
        finally:
            self._busy -= 1
            if self._busy == 0 and self._waiters:
                try:
                    self._schedule(asyncio.get_running_loop())
                except RuntimeError:
                    pass

    def _schedule(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._pending_hops == 0:
            self._pending_hops = self._SETTLE_HOPS
            loop.call_soon(self._hop, loop)

    def _hop(self, loop: asyncio.AbstractEventLoop) -> None:
        self._pending_hops -= 1
        if self._pending_hops > 0:
            loop.call_soon(self._hop, loop)
            return
        self._advance(loop)

    def _advance(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        while self._waiters and self._waiters[0][2].done():
            heapq.heappop(self._waiters)
        if not self._waiters:
            return
        if self._busy == 0 and self._waiters[0][0] > self.now():
            self._skipped_s += self._waiters[0][0] - self.now()
        now = self.now()
        while self._waiters and self._waiters[0][0] <= now:
            _, _, future = heapq.heappop(self._waiters)
            if not future.done():
                future.set_result(None)
        if not self._waiters:
            return
        if self._busy == 0:
            self._schedule(loop)
        else:
            delay = max(0.0, self._waiters[0][0] - now)
            self._timer = loop.call_later(delay, self._advance, loop)
