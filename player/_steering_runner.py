"""The adapter that asks the content steering server, on the selector's schedule.

``SteeringRunner.run`` is a task of its own beside the playback loop: it sleeps on the
session clock until ``PathwaySelector.next_request_at``, fetches the steering manifest
through the transport, and hands the answer (or the failure) to the selector. A steering
server that is slow, down or wrong never holds up a segment request: the loop keeps using
the priority in force, and the selector decides when to ask again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from player._clock import Clock
from player._cmcd_requests import Outgoing
from player._parts import Fetcher
from player.cmcd import strip_cmcd_query
from player.config import SteeringConfig
from player.errors import SteeringError, redact_url
from player.events import ErrorOccurred, Event
from player.steering import PathwaySelector, SteeringManifest
from transport import AllEdgesFailed, HttpStatusError, TransportError

__all__: list[str] = []

_log = logging.getLogger(__name__)


class SteeringRunner:
    """Runs steering requests for one session.

    Args:
        selector: The session's pathway selector.
        http: The transport.
        clock: The session clock.
        config: Steering settings.
        emit: Where non-fatal ``ErrorOccurred`` events go.
        outgoing: Adds CMCD (``ot=m``) to steering requests; none by default.
    """

    def __init__(
        self,
        selector: PathwaySelector,
        *,
        http: Fetcher,
        clock: Clock,
        config: SteeringConfig,
        emit: Callable[[Event], None],
        outgoing: Callable[[tuple[str, ...]], Outgoing] | None = None,
    ) -> None:
        self.selector = selector
        self._outgoing = outgoing
        self._http = http
        self._clock = clock
        self._config = config
        self._emit = emit
        self._wake = asyncio.Event()
        self.requests: list[str] = []
        """Every steering URL requested, in order (for reports and tests)."""
        self.answered = asyncio.Event()
        """Set once the first steering request has been answered or has failed."""

    def wake(self) -> None:
        """Re-read the schedule now (playback started, or the selector changed)."""
        self._wake.set()

    def on_playback_started(self) -> None:
        """Playback started: DASH without ``queryBeforeStart`` asks its first time now."""
        self.selector.on_playback_started(self._clock.now())
        self.wake()

    async def run(self) -> None:
        """Ask the steering server whenever due, until cancelled or nothing is due."""
        while True:
            at = self.selector.next_request_at()
            if at is None:
                self._wake.clear()
                if self.selector.next_request_at() is None:
                    await self._wake.wait()
                continue
            delay = at - self._clock.now()
            if delay > 0:
                await self._sleep(delay)
                continue
            await self.request_once()

    async def first_answer(self, timeout_s: float) -> None:
        """Wait (real seconds, at most ``timeout_s``) for the first answer or failure."""
        try:
            await asyncio.wait_for(self.answered.wait(), timeout_s)
        except TimeoutError:
            _log.info("no steering answer within %.1f s; starting on the defaults", timeout_s)

    async def _sleep(self, delay_s: float) -> None:
        self._wake.clear()
        sleeper = asyncio.ensure_future(self._clock.sleep(delay_s))
        waker = asyncio.ensure_future(self._wake.wait())
        try:
            await asyncio.wait({sleeper, waker}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            sleeper.cancel()
            waker.cancel()

    async def request_once(self) -> None:
        """Send the steering request due now and apply its answer (or its failure)."""
        url = self.selector.build_request_url(self._clock.now())
        self.requests.append(url)
        try:
            send = Outgoing((url,), None) if self._outgoing is None else self._outgoing((url,))
            with self._clock.busy():
                response = await self._http.fetch(send.urls, headers=send.headers)
            manifest = SteeringManifest.parse(
                response.content,
                url=strip_cmcd_query(response.url),
                max_bytes=self._config.max_manifest_bytes,
            )
        except (TransportError, SteeringError) as exc:
            status, retry_after = _status_of(exc)
            at = self.selector.on_reload_failure(
                self._clock.now(), status=status, retry_after_s=retry_after
            )
            _log.info("steering request %s failed (%s); next at %s", redact_url(url), exc, at)
            self._emit(
                ErrorOccurred(
                    at_s=self._clock.now(),
                    code=exc.code,
                    message=f"content steering: {exc}",
                    fatal=False,
                    error=exc,
                )
            )
        else:
            self.selector.on_manifest(manifest, self._clock.now())
            _log.debug("steering: priority %s, TTL %.1f s", manifest.priority, manifest.ttl_s)
        finally:
            self.answered.set()


def _status_of(error: BaseException) -> tuple[int | None, float | None]:
    """The HTTP status and ``Retry-After`` behind a failed steering request, if any."""
    if isinstance(error, AllEdgesFailed) and error.attempts:
        error = error.attempts[-1]
    if isinstance(error, HttpStatusError):
        return error.status, error.retry_after_s
    return None, None
