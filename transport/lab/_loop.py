"""An event loop in a daemon thread, for the synchronous (thread-backed) lab forms."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine
from types import TracebackType
from typing import Any, Self, TypeVar

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


class AsyncStartStop:
    """``async with`` for lab parts with ``start()``/``stop()`` coroutines."""

    async def start(self) -> None:
        """Start serving."""
        raise NotImplementedError

    async def stop(self) -> None:
        """Stop serving (bounded in time)."""
        raise NotImplementedError

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()


class ThreadedPart:
    """Synchronous handle running a lab part's ``start``/``stop`` on a ``LoopThread``.

    Subclasses pass the coroutine functions and their time limits; ``start()`` is a no-op
    while running and ``stop()`` is bounded in time and joins the thread.

    Args:
        name: Thread name.
        start: Coroutine function that starts the part.
        stop: Coroutine function that stops it.
        start_timeout_s: Longest wait for ``start``.
        stop_timeout_s: Longest wait for ``stop``.
    """

    def __init__(
        self,
        *,
        name: str,
        start: Callable[[], Coroutine[Any, Any, None]],
        stop: Callable[[], Coroutine[Any, Any, None]],
        start_timeout_s: float,
        stop_timeout_s: float,
    ) -> None:
        self._name = name
        self._start = start
        self._stop = stop
        self._start_timeout_s = start_timeout_s
        self._stop_timeout_s = stop_timeout_s
        self._thread: LoopThread | None = None

    def start(self) -> Self:
        """Start the part in a new loop thread (no-op when running).

        Returns:
            This handle.
        """
        if self._thread is None:
            thread = LoopThread(self._name)
            try:
                thread.run(self._start(), timeout_s=self._start_timeout_s)
            except BaseException:
                thread.close()
                raise
            self._thread = thread
        return self

    def stop(self) -> None:
        """Stop the part and its loop thread; bounded in time."""
        thread, self._thread = self._thread, None
        if thread is None:
            return
        try:
            thread.run(self._stop(), timeout_s=self._stop_timeout_s)
        finally:
            thread.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
