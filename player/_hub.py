"""Event delivery: callbacks and an async iterator over a bounded backlog."""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import AsyncIterator, Callable

from player.events import Event

__all__: list[str] = []

_log = logging.getLogger(__name__)

Listener = Callable[[Event], None]


class EventHub:
    """Fans events out to callbacks and to ``async for`` readers.

    Every event is also kept in ``log`` (bounded) for reports.
    """

    def __init__(self, *, max_backlog: int) -> None:
        self._listeners: list[Listener] = []
        self.log: deque[Event] = deque(maxlen=max_backlog)
        self.dropped = 0
        self._readers: list[asyncio.Queue[Event | None]] = []
        self._max_backlog = max_backlog
        self._closed = False

    def add_listener(self, listener: Listener) -> None:
        """Call ``listener(event)`` for every later event (exceptions are logged, not raised)."""
        self._listeners.append(listener)

    def remove_listener(self, listener: Listener) -> None:
        """Stop calling ``listener``."""
        self._listeners.remove(listener)

    def emit(self, event: Event) -> None:
        """Deliver one event."""
        if len(self.log) == self.log.maxlen:
            self.dropped += 1
        self.log.append(event)
        for listener in list(self._listeners):
            try:
                listener(event)
            except Exception:  # a user's callback must not break playback
                _log.exception("event listener failed on %s", type(event).__name__)
        for queue in self._readers:
            if queue.qsize() >= self._max_backlog:
                queue.get_nowait()
            queue.put_nowait(event)

    def close(self) -> None:
        """End every ``async for`` reader after the events already queued."""
        self._closed = True
        for queue in self._readers:
            queue.put_nowait(None)

    async def stream(self) -> AsyncIterator[Event]:
        """Yield events from now on until the session closes."""
        queue: asyncio.Queue[Event | None] = asyncio.Queue()
        if self._closed:
            return
        self._readers.append(queue)
        try:
            while True:
                event = await queue.get()
                if event is None:
                    return
                yield event
        finally:
            self._readers.remove(queue)
