"""An event loop in a daemon thread, for the synchronous (thread-backed) lab forms."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

__all__: list[str] = []

_T = TypeVar("_T")

_JOIN_TIMEOUT_S = 5.0
"""Longest wait for the loop thread to finish after its loop was told to stop."""


class LoopThread:
    """Runs an asyncio event loop in a daemon thread and runs coroutines on it."""

    def __init__(self, name: str) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_forever()
        finally:
            pending = [t for t in asyncio.all_tasks(self.loop) if not t.done()]
            for task in pending:
                task.cancel()
            if pending:
                self.loop.run_until_complete(asyncio.wait(pending, timeout=1.0))
            self.loop.run_until_complete(self.loop.shutdown_asyncgens())
            self.loop.close()

    def run(self, coro: Coroutine[Any, Any, _T], *, timeout_s: float) -> _T:
        """Run ``coro`` on the thread's loop and wait for its result.

        Args:
            coro: The coroutine.
            timeout_s: Longest wait, in seconds.

        Returns:
            The coroutine's result.

        Raises:
            TimeoutError: The coroutine did not finish in time (it is cancelled).
        """
        future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        try:
            return future.result(timeout_s)
        except TimeoutError:
            future.cancel()
            raise

    @property
    def is_current(self) -> bool:
        """Whether the caller runs on this loop's thread."""
        return threading.current_thread() is self._thread

    def close(self) -> None:
        """Stop the loop, cancel what still runs on it and join the thread (bounded)."""
        if self.loop.is_closed():
            return
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(_JOIN_TIMEOUT_S)
