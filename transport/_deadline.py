"""Per-request deadlines: connect, time to first byte, stall and total (``Timeouts``)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Literal, TypeVar

from transport._redact import redact_url
from transport.config import Timeouts
from transport.errors import ConnectTimeout, RequestTimeout, StallTimeout

__all__: list[str] = []

T = TypeVar("T")
Phase = Literal["connect", "ttfb", "stall"]


class RequestDeadline:
    """Enforces the four limits of one request attempt.

    Args:
        timeouts: The limits.
        url: The URL, for error messages.
        started_at: Loop time at which the attempt started.
    """

    def __init__(self, timeouts: Timeouts, url: str, *, started_at: float) -> None:
        self.timeouts = timeouts
        self.url = url
        self.started_at = started_at
        self.total_at = started_at + timeouts.total_s

    def _phase_limit(self, phase: Phase) -> float:
        if phase == "connect":
            return self.timeouts.connect_s
        if phase == "ttfb":
            return self.timeouts.ttfb_s
        return self.timeouts.stall_s

    async def run(self, awaitable: Awaitable[T], phase: Phase) -> T:
        """Await ``awaitable`` within the phase limit and the total limit.

        Args:
            awaitable: What to wait for.
            phase: Which limit applies besides the total one.

        Returns:
            The awaitable's result.

        Raises:
            ConnectTimeout: The connect limit passed.
            StallTimeout: The stall limit passed.
            RequestTimeout: The ttfb or total limit passed.
        """
        loop = asyncio.get_running_loop()
        now = loop.time()
        phase_limit = self._phase_limit(phase)
        remaining = self.total_at - now
        is_total = remaining <= phase_limit
        try:
            async with asyncio.timeout(max(0.0, min(phase_limit, remaining))):
                return await awaitable
        except TimeoutError:
            raise self.timeout_error(phase, is_total=is_total) from None

    def timeout_error(self, phase: Phase, *, is_total: bool) -> RequestTimeout:
        """Build the error for a passed limit.

        Args:
            phase: The phase being waited for.
            is_total: Whether the total limit (rather than the phase's) was the one passed.

        Returns:
            The typed timeout error.
        """
        if is_total:
            limit = self.timeouts.total_s
            return RequestTimeout(
                f"total timeout ({limit} s) for {redact_url(self.url)}", url=self.url
            )
        limit = self._phase_limit(phase)
        if phase == "connect":
            return ConnectTimeout(
                f"connect timeout ({limit} s) to {redact_url(self.url)}", url=self.url
            )
        if phase == "stall":
            return StallTimeout(f"no bytes for {limit} s from {redact_url(self.url)}", url=self.url)
        return RequestTimeout(
            f"no response within {limit} s from {redact_url(self.url)}", url=self.url
        )
