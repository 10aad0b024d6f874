"""The per-session heartbeat reporter: the scheduler (decisions) tied to a running delivery."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

from player.config import HeartbeatConfig
from player.errors import HeartbeatError
from player.heartbeat._delivery import HeartbeatDelivery, new_session_id
from player.heartbeat._model import (
    Heartbeat,
    HeartbeatAction,
    HeartbeatReply,
    PlaybackSnapshot,
    SessionIdentity,
)
from player.heartbeat._schedule import HeartbeatScheduler, HeartbeatTrigger

__all__ = ["HeartbeatReporter"]


class HeartbeatReporter:
    """Reports one playback session's heartbeats through a running :class:`HeartbeatDelivery`.

    The session calls :meth:`notify` on each playback event and :meth:`tick` as its clock
    advances (at :attr:`next_due_at` at the latest), passing its clocks explicitly. When the
    service answers ``terminate``, :attr:`termination` is set and :meth:`wait_terminated`
    returns: the session must stop and report a terminal ``HeartbeatError``.

    Args:
        scheduler: The session's scheduler (its identity names the session).
        delivery: The running delivery.
        on_delivered: Called with each heartbeat the service accepted, in order (e.g. to emit
            ``events.HeartbeatSent``); on the event loop, must not block.
    """

    def __init__(
        self,
        scheduler: HeartbeatScheduler,
        delivery: HeartbeatDelivery,
        *,
        on_delivered: Callable[[Heartbeat], None] | None = None,
    ) -> None:
        self._scheduler = scheduler
        self._delivery = delivery
        self._terminated = asyncio.Event()
        self._on_heartbeat_delivered = on_delivered
        delivery.watch(scheduler.identity.session_id, self._on_delivered)

    @classmethod
    def for_session(
        cls,
        config: HeartbeatConfig,
        delivery: HeartbeatDelivery,
        *,
        viewer_id: str,
        title_id: str,
        device_id: str,
        on_delivered: Callable[[Heartbeat], None] | None = None,
    ) -> HeartbeatReporter:
        """Build a reporter for a new session with a fresh random session id.

        Args:
            config: Heartbeat section (``interval_s``).
            delivery: The running delivery.
            viewer_id: Viewer whose position it is.
            title_id: Title played.
            device_id: This device.
            on_delivered: As for the constructor.

        Returns:
            The reporter.

        Raises:
            HeartbeatError: An id is not valid on the wire.
        """
        identity = SessionIdentity(
            session_id=new_session_id(), viewer_id=viewer_id, title_id=title_id, device_id=device_id
        )
        return cls(HeartbeatScheduler(config, identity), delivery, on_delivered=on_delivered)

    @property
    def session_id(self) -> str:
        """The session's id."""
        return self._scheduler.identity.session_id

    @property
    def next_due_at(self) -> float | None:
        """Monotonic time (s) of the next periodic heartbeat, ``None`` when finished."""
        return self._scheduler.next_due_at

    @property
    def termination(self) -> HeartbeatReply | None:
        """The service's ``terminate`` answer, once received."""
        return self._scheduler.termination

    async def notify(
        self, trigger: HeartbeatTrigger, snapshot: PlaybackSnapshot, *, now: float, wall_s: float
    ) -> Heartbeat | None:
        """Report a playback event now (queued durably before this returns).

        Args:
            trigger: The event.
            snapshot: Player state right after it.
            now: Monotonic clock, seconds.
            wall_s: Wall clock, Unix seconds.

        Returns:
            The heartbeat queued, or ``None`` once the session is finished.

        Raises:
            HeartbeatError: The outbox failed.
        """
        heartbeat = self._scheduler.on_event(trigger, snapshot, now=now, wall_s=wall_s)
        if heartbeat is not None:
            await self._delivery.enqueue(heartbeat, is_state_change=True)
        return heartbeat

    async def tick(
        self, snapshot: PlaybackSnapshot, *, now: float, wall_s: float
    ) -> Heartbeat | None:
        """Queue the periodic heartbeat if one is due.

        Args:
            snapshot: Player state now.
            now: Monotonic clock, seconds.
            wall_s: Wall clock, Unix seconds.

        Returns:
            The heartbeat queued, or ``None`` when none was due.

        Raises:
            HeartbeatError: The outbox failed.
        """
        heartbeat = self._scheduler.on_tick(snapshot, now=now, wall_s=wall_s)
        if heartbeat is not None:
            await self._delivery.enqueue(heartbeat, is_state_change=False)
        return heartbeat

    async def wait_terminated(self) -> HeartbeatReply:
        """Wait until the service terminates the session, and return its answer."""
        await self._terminated.wait()
        termination = self._scheduler.termination
        assert termination is not None
        return termination

    def termination_error(self) -> HeartbeatError | None:
        """Return the terminal error the session should report, if the service terminated it."""
        reply = self._scheduler.termination
        if reply is None:
            return None
        return HeartbeatError(
            f"session {self.session_id} terminated by the session service:"
            f" {reply.reason or 'no reason given'}"
        )

    def close(self) -> None:
        """Stop listening for answers (queued heartbeats are still delivered)."""
        self._delivery.unwatch(self.session_id)

    def _on_delivered(self, heartbeats: Sequence[Heartbeat], reply: HeartbeatReply) -> None:
        if self._on_heartbeat_delivered is not None:
            for heartbeat in heartbeats:
                self._on_heartbeat_delivered(heartbeat)
        self._scheduler.on_reply(reply)
        if reply.action is HeartbeatAction.TERMINATE:
            self._terminated.set()
