"""When a heartbeat is due, and what it says: the sans-I/O core of heartbeat reporting.

The session feeds it playback snapshots with explicit clocks; it answers with the
:class:`~player.Heartbeat` to send (or ``None``). It never sends, sleeps or reads a clock.

>>> from player.config import HeartbeatConfig
>>> ident = SessionIdentity(session_id="s1", viewer_id="v", title_id="t", device_id="d")
>>> sched = HeartbeatScheduler(HeartbeatConfig(interval_s=10.0), ident)
>>> snap = PlaybackSnapshot(position_s=0.0, state="playing", bitrate_bps=800_000, buffer_s=4.0)
>>> sched.on_event(HeartbeatTrigger.START, snap, now=100.0, wall_s=1.7e9).seq
0
>>> sched.on_tick(snap, now=105.0, wall_s=1.7e9 + 5) is None
True
>>> sched.on_tick(snap, now=110.0, wall_s=1.7e9 + 10).id
's1:1'
"""

from __future__ import annotations

from enum import StrEnum

from player.config import HeartbeatConfig
from player.heartbeat._model import (
    Heartbeat,
    HeartbeatAction,
    HeartbeatReply,
    PlaybackSnapshot,
    SessionIdentity,
)

__all__ = ["HeartbeatScheduler", "HeartbeatTrigger"]


class HeartbeatTrigger(StrEnum):
    """Why a heartbeat is sent: a playback event, or the periodic timer."""

    START = "start"
    PAUSE = "pause"
    RESUME = "resume"
    SEEK = "seek"
    SWITCH = "switch"
    STALL = "stall"
    END = "end"
    ERROR = "error"
    PERIODIC = "periodic"

    @property
    def is_state_change(self) -> bool:
        """Whether the trigger is an event (kept by the outbox's coalescing) or the timer."""
        return self is not HeartbeatTrigger.PERIODIC


_FINAL = frozenset({HeartbeatTrigger.END, HeartbeatTrigger.ERROR})


class HeartbeatScheduler:
    """Decides when a session's heartbeats are due and builds them.

    A heartbeat is due immediately on every event, and ``interval_s`` after the previous one
    while the session runs. Ids are ``"{session_id}:{seq}"``: unique as long as session ids are,
    and identical when the same heartbeat is re-sent, so the service can drop duplicates.

    Args:
        config: The heartbeat section; only ``interval_s`` is used.
        identity: Session, viewer, title and device ids.
    """

    def __init__(self, config: HeartbeatConfig, identity: SessionIdentity) -> None:
        self._interval_s = config.interval_s
        self._identity = identity
        self._seq = 0
        self._due_at: float | None = None
        self._is_finished = False
        self._termination: HeartbeatReply | None = None

    @property
    def identity(self) -> SessionIdentity:
        """The ids every heartbeat of this session carries."""
        return self._identity

    @property
    def next_due_at(self) -> float | None:
        """Monotonic time (s) the next periodic heartbeat is due; ``None`` if none will be."""
        return None if self._is_finished else self._due_at

    @property
    def is_finished(self) -> bool:
        """Whether the session ended, failed or was terminated: nothing more will be built."""
        return self._is_finished

    @property
    def termination(self) -> HeartbeatReply | None:
        """The service's ``terminate`` reply, once one was received."""
        return self._termination

    def on_event(
        self, trigger: HeartbeatTrigger, snapshot: PlaybackSnapshot, *, now: float, wall_s: float
    ) -> Heartbeat | None:
        """Notify a playback event; its heartbeat is due now.

        The caller must deliver the returned heartbeat. ``END`` and ``ERROR`` finish the
        session: later calls return ``None``.

        Args:
            trigger: The event.
            snapshot: Player state right after the event.
            now: Monotonic clock, seconds.
            wall_s: Wall clock, Unix seconds (the heartbeat's ``ts``).

        Returns:
            The heartbeat to deliver, or ``None`` once the session is finished.
        """
        if self._is_finished:
            return None
        if trigger in _FINAL:
            self._is_finished = True
        return self._build(snapshot, now=now, wall_s=wall_s)

    def on_tick(self, snapshot: PlaybackSnapshot, *, now: float, wall_s: float) -> Heartbeat | None:
        """Notify that time passed; returns the periodic heartbeat if one is due.

        Nothing is due before the first event (``START``). The caller should call again at
        :attr:`next_due_at` at the latest, and deliver what is returned.

        Args:
            snapshot: Player state now.
            now: Monotonic clock, seconds.
            wall_s: Wall clock, Unix seconds.

        Returns:
            The heartbeat to deliver, or ``None`` when none is due.
        """
        due = self.next_due_at
        if due is None or now < due:
            return None
        return self._build(snapshot, now=now, wall_s=wall_s)

    def on_reply(self, reply: HeartbeatReply) -> None:
        """Notify the service's answer; ``terminate`` finishes the session.

        After a ``terminate``, the caller must stop playback and report the
        :attr:`termination` as a terminal error.

        Args:
            reply: The decoded answer.
        """
        if reply.action is HeartbeatAction.TERMINATE and self._termination is None:
            self._termination = reply
            self._is_finished = True

    def _build(self, snapshot: PlaybackSnapshot, *, now: float, wall_s: float) -> Heartbeat:
        ident = self._identity
        seq = self._seq
        self._seq += 1
        self._due_at = now + self._interval_s
        return Heartbeat(
            id=f"{ident.session_id}:{seq}",
            session_id=ident.session_id,
            seq=seq,
            viewer_id=ident.viewer_id,
            title_id=ident.title_id,
            device_id=ident.device_id,
            position_s=float(snapshot.position_s),
            state=snapshot.state,
            bitrate_bps=int(snapshot.bitrate_bps),
            buffer_s=float(snapshot.buffer_s),
            ts=float(wall_s),
        )
