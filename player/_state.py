"""The playback state machine: states, allowed transitions, and nothing else (pure)."""

from __future__ import annotations

from enum import StrEnum

from player.errors import UsageError

__all__ = ["PlaybackState"]


class PlaybackState(StrEnum):
    """Where a playback session is."""

    IDLE = "idle"
    LOADING = "loading"
    BUFFERING = "buffering"
    """Initial buffering, before the first frame."""
    PLAYING = "playing"
    REBUFFERING = "rebuffering"
    """Stalled after playback started: the buffer ran dry."""
    PAUSED = "paused"
    SEEKING = "seeking"
    ENDED = "ended"
    ERROR = "error"


_S = PlaybackState
_ALLOWED: dict[PlaybackState, frozenset[PlaybackState]] = {
    _S.IDLE: frozenset({_S.LOADING, _S.ERROR}),
    _S.LOADING: frozenset({_S.BUFFERING, _S.ERROR, _S.IDLE}),
    _S.BUFFERING: frozenset({_S.PLAYING, _S.PAUSED, _S.SEEKING, _S.ERROR, _S.ENDED, _S.IDLE}),
    _S.PLAYING: frozenset({_S.REBUFFERING, _S.PAUSED, _S.SEEKING, _S.ENDED, _S.ERROR, _S.IDLE}),
    _S.REBUFFERING: frozenset({_S.PLAYING, _S.PAUSED, _S.SEEKING, _S.ERROR, _S.ENDED, _S.IDLE}),
    _S.PAUSED: frozenset({_S.PLAYING, _S.BUFFERING, _S.SEEKING, _S.ERROR, _S.ENDED, _S.IDLE}),
    _S.SEEKING: frozenset({_S.BUFFERING, _S.PLAYING, _S.PAUSED, _S.ERROR, _S.ENDED, _S.IDLE}),
    _S.ENDED: frozenset({_S.SEEKING, _S.IDLE}),
    _S.ERROR: frozenset({_S.IDLE}),
}
TERMINAL = frozenset({_S.ENDED, _S.ERROR})


class StateMachine:
    """Holds the current state and refuses transitions the diagram does not draw.

    >>> sm = StateMachine()
    >>> sm.move(PlaybackState.LOADING)
    (<PlaybackState.IDLE: 'idle'>, <PlaybackState.LOADING: 'loading'>)
    >>> sm.state
    <PlaybackState.LOADING: 'loading'>
    """

    def __init__(self) -> None:
        self.state = PlaybackState.IDLE

    def can_move(self, new: PlaybackState) -> bool:
        """Whether ``new`` is reachable from the current state in one step."""
        return new in _ALLOWED[self.state]

    def move(self, new: PlaybackState) -> tuple[PlaybackState, PlaybackState]:
        """Move to ``new``.

        Args:
            new: Target state.

        Returns:
            ``(old, new)``; the caller emits a ``StateChanged`` event.

        Raises:
            UsageError: The transition is not allowed (a bug or an API misuse).
        """
        if new == self.state:
            return (new, new)
        if not self.can_move(new):
            raise UsageError(f"cannot go from {self.state.value} to {new.value}")
        old, self.state = self.state, new
        return (old, new)

    @property
    def is_terminal(self) -> bool:
        """Whether the session is ended or failed."""
        return self.state in TERMINAL
