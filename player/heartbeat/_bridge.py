"""Connects a playback session to the heartbeat reporter (docs/heartbeats.md).

Playback events become heartbeat triggers, handled in order by one task, which also sends
the periodic heartbeat on the session clock. Delivered heartbeats become ``HeartbeatSent``
events; a ``terminate`` answer becomes a fatal ``HeartbeatError``.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import Callable

from player._clock import Clock
from player.config import HeartbeatConfig
from player.errors import HeartbeatError
from player.events import (
    BufferingStarted,
    Ended,
    ErrorOccurred,
    Event,
    HeartbeatSent,
    PlaybackStarted,
    Seeked,
    StateChanged,
    SwitchReason,
    VariantSwitched,
)
from player.heartbeat._delivery import HeartbeatDelivery, HttpCall
from player.heartbeat._model import Heartbeat, PlaybackSnapshot
from player.heartbeat._reporter import HeartbeatReporter
from player.heartbeat._schedule import HeartbeatTrigger

__all__: list[str] = []

_log = logging.getLogger(__name__)
_CLOSE_TIMEOUT_S = 2.0  # bounded final flush; undelivered heartbeats stay in the outbox
_STOPPED = "stopped"
"""Queued by ``close``: report the position playback stopped at."""


def trigger_for(event: Event) -> HeartbeatTrigger | None:
    """The heartbeat a playback event calls for, if any.

    >>> trigger_for(Seeked(at_s=1.0, from_s=0.0, to_s=30.0))
    <HeartbeatTrigger.SEEK: 'seek'>
    """
    if isinstance(event, PlaybackStarted):
        return HeartbeatTrigger.START
    if isinstance(event, StateChanged):
        if event.new == "paused" and event.old != "paused":
            return HeartbeatTrigger.PAUSE
        if event.old == "paused" and event.new == "playing":
            return HeartbeatTrigger.RESUME
        return None
    if isinstance(event, Seeked):
        return HeartbeatTrigger.SEEK
    if isinstance(event, VariantSwitched) and event.reason is not SwitchReason.INITIAL:
        return HeartbeatTrigger.SWITCH
    if isinstance(event, BufferingStarted):
        return HeartbeatTrigger.STALL
    if isinstance(event, Ended):
        return HeartbeatTrigger.END
    if isinstance(event, ErrorOccurred) and event.fatal and event.code != HeartbeatError.code:
        return HeartbeatTrigger.ERROR
    return None


class HeartbeatBridge:
    """Runs one session's heartbeats.

    Args:
        config: Heartbeat section.
        call: HTTP adapter (``http_call_via(transport client)``).
        clock: Session clock.
        wall: Session time as UTC epoch seconds.
        snapshot: What the player looks like now.
        emit: Event sink (``HeartbeatSent``).
        on_terminate: Called with the error when the service ends the session.
    """

    def __init__(
        self,
        config: HeartbeatConfig,
        *,
        call: HttpCall,
        clock: Clock,
        wall: Callable[[], float],
        snapshot: Callable[[], PlaybackSnapshot],
        emit: Callable[[Event], None],
        on_terminate: Callable[[HeartbeatError], None],
    ) -> None:
        self._config = config
        self._delivery = HeartbeatDelivery(config, call=call)
        self._clock = clock
        self._wall = wall
        self._snapshot = snapshot
        self._emit = emit
        self._on_terminate = on_terminate
        self._queue: asyncio.Queue[HeartbeatTrigger | str | None] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []
        self.reporter: HeartbeatReporter | None = None

    async def start(self, *, viewer_id: str, title_id: str, device_id: str) -> None:
        """Open the outbox and start reporting.

        Raises:
            HeartbeatError: An id is not valid on the wire, or the outbox cannot open.
        """
        await self._delivery.__aenter__()
        self.reporter = HeartbeatReporter.for_session(
            self._config,
            self._delivery,
            viewer_id=viewer_id,
            title_id=title_id,
            device_id=device_id,
            on_delivered=self._delivered,
        )
        self._tasks = [
            asyncio.create_task(self._run(), name="heartbeats"),
            asyncio.create_task(self._watch_termination(), name="heartbeat-terminate"),
        ]

    def on_event(self, event: Event) -> None:
        """Queue the heartbeat a playback event calls for."""
        trigger = trigger_for(event)
        if trigger is not None and self.reporter is not None:
            self._queue.put_nowait(trigger)

    def _delivered(self, heartbeat: Heartbeat) -> None:
        self._emit(
            HeartbeatSent(
                at_s=self._clock.now(),
                seq=heartbeat.seq,
                state=heartbeat.state,
                position_s=heartbeat.position_s,
            )
        )

    async def _next_trigger(self) -> HeartbeatTrigger | str | None | bool:
        """The next queued trigger, or ``False`` when the periodic heartbeat is due."""
        assert self.reporter is not None
        due = self.reporter.next_due_at
        if not self._queue.empty() or due is None:
            return await self._queue.get()
        getter = asyncio.ensure_future(self._queue.get())
        sleeper = asyncio.ensure_future(self._clock.sleep(max(0.0, due - self._clock.now())))
        done, _ = await asyncio.wait({getter, sleeper}, return_when=asyncio.FIRST_COMPLETED)
        sleeper.cancel()
        if getter in done:
            return getter.result()
        getter.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await getter
        return False

    async def _run(self) -> None:
        assert self.reporter is not None
        while True:
            trigger = await self._next_trigger()
            if trigger is None:
                return
            now, wall = self._clock.now(), self._wall()
            try:
                if trigger == _STOPPED:
                    await self._report_stop(now=now, wall_s=wall)
                elif trigger is False:
                    await self.reporter.tick(self._snapshot(), now=now, wall_s=wall)
                else:
                    assert isinstance(trigger, HeartbeatTrigger)
                    await self.reporter.notify(trigger, self._snapshot(), now=now, wall_s=wall)
            except HeartbeatError:
                _log.exception("heartbeat could not be queued")

    async def _watch_termination(self) -> None:
        assert self.reporter is not None
        await self.reporter.wait_terminated()
        error = self.reporter.termination_error()
        if error is not None:
            self._on_terminate(error)

    async def _report_stop(self, *, now: float, wall_s: float) -> None:
        """The position where playback stopped, reported as paused (what resume starts from)."""
        assert self.reporter is not None
        snapshot = self._snapshot()
        if snapshot.state in ("ended", "error"):
            return  # the session already sent its final heartbeat
        snapshot = dataclasses.replace(snapshot, state="paused")
        await self.reporter.notify(HeartbeatTrigger.PAUSE, snapshot, now=now, wall_s=wall_s)

    async def close(self) -> None:
        """Report where playback stopped, send what is queued (bounded in time) and close.

        The outbox keeps what could not be sent in time.
        """
        if self.reporter is None:
            return
        self._queue.put_nowait(_STOPPED)
        self._queue.put_nowait(None)
        runner, watcher = self._tasks
        with contextlib.suppress(TimeoutError, asyncio.CancelledError):
            await asyncio.wait_for(runner, timeout=_CLOSE_TIMEOUT_S)
        watcher.cancel()
        with contextlib.suppress(TimeoutError, HeartbeatError, Exception):
            await asyncio.wait_for(self._delivery.flush(), timeout=_CLOSE_TIMEOUT_S)
        self.reporter.close()
        await self._delivery.aclose()
        self.reporter = None
