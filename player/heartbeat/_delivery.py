"""Heartbeat delivery: the durable outbox, drained in order with backoff by one background task.

``HeartbeatDelivery`` is the I/O adapter around :class:`~player.Outbox`; it talks to the
session service through an :class:`HttpCall` (transport's client via :func:`http_call_via`).
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Literal, Protocol

from player.config import HeartbeatConfig
from player.errors import HeartbeatError, UsageError
from player.heartbeat._model import Heartbeat, HeartbeatAction, HeartbeatReply, parse_heartbeat
from player.heartbeat._outbox import Outbox, OutboxEntry, OutboxStats
from transport import HttpClient
from transport.errors import AllEdgesFailed, HttpStatusError, TransportError

__all__ = ["DeliveryStats", "HeartbeatDelivery", "HttpCall", "http_call_via"]

_log = logging.getLogger(__name__)

_Outcome = Literal["delivered", "rejected"]

Watcher = Callable[[Sequence[Heartbeat], HeartbeatReply], None]
"""Told which heartbeats of its session were delivered, and the service's answer."""

# 4xx answers that may succeed later (timeout, too early, rate limited); other 4xx are final.
_RETRYABLE_4XX = frozenset({408, 425, 429})


class HttpCall(Protocol):
    """One HTTP request to the session service (:func:`http_call_via` adapts transport's client).

    Implementations return the body of a 2xx answer and raise
    ``transport.HttpStatusError`` for other statuses and another ``TransportError`` when the
    request fails. They should not retry much themselves: the outbox retries.
    """

    async def __call__(
        self, url: str, *, method: str, headers: Mapping[str, str], body: bytes | None
    ) -> bytes:
        """Send the request.

        Args:
            url: Absolute URL.
            method: ``"GET"`` or ``"POST"``.
            headers: Request headers.
            body: Request body, or ``None``.

        Returns:
            The response body.
        """
        ...


def http_call_via(client: HttpClient) -> HttpCall:
    """Return an :class:`HttpCall` that sends through transport's client.

    Give the client few attempts (``RetryConfig(max_attempts=1)`` or 2): the outbox retries
    heartbeats itself, and resume must answer within ``resume_timeout_s``.

    Args:
        client: The SDK's HTTP client (with the session service's CA, if private).

    Returns:
        The callable.
    """

    async def call(
        url: str, *, method: str, headers: Mapping[str, str], body: bytes | None
    ) -> bytes:
        response = await client.fetch(url, method=method, headers=headers, body=body)
        return response.content

    return call


def new_session_id() -> str:
    """Return a fresh random session id (32 hex digits, 128 bits)."""
    return secrets.token_hex(16)


def retry_delay_s(config: HeartbeatConfig, failures: int, retry_after_s: float | None) -> float:
    """Return how long to wait after ``failures`` consecutive failed deliveries.

    >>> cfg = HeartbeatConfig(retry_base_delay_s=1.0, retry_max_delay_s=5.0)
    >>> [retry_delay_s(cfg, n, None) for n in (1, 2, 3, 4)]
    [1.0, 2.0, 4.0, 5.0]

    Args:
        config: Backoff settings.
        failures: Consecutive failures so far, from 1.
        retry_after_s: The server's ``Retry-After``, honoured up to the cap.

    Returns:
        Seconds.
    """
    delay = config.retry_base_delay_s * config.retry_backoff_factor ** (failures - 1)
    if retry_after_s is not None:
        delay = max(delay, retry_after_s)
    return min(delay, config.retry_max_delay_s)


@dataclass(frozen=True, kw_only=True, slots=True)
class DeliveryStats:
    """Counters of a delivery, and its outbox's."""

    requests: int
    """Requests sent, successful or not."""

    failures: int
    """Requests that failed and will be retried."""

    outbox: OutboxStats
    """The outbox's counters (pending, delivered, coalesced, dropped, rejected)."""


class HeartbeatDelivery:
    """Sends queued heartbeats from the durable outbox, in order, with backoff.

    Use as an async context manager: entering opens the outbox (delivering whatever a previous
    run left in it) and starts the sending task; leaving stops it, keeping what is unsent.
    Requests carry the heartbeats of one session, oldest first, at most ``max_batch``.

    Args:
        config: Heartbeat section: ``service_url``, ``headers``, ``outbox_path``, bounds, backoff.
        call: How to send an HTTP request.

    Raises:
        UsageError: ``config.service_url`` is not set.
    """

    def __init__(self, config: HeartbeatConfig, *, call: HttpCall) -> None:
        if config.service_url is None:
            raise UsageError("HeartbeatDelivery needs HeartbeatConfig.service_url")
        self._config = config
        self._call = call
        self._url = config.service_url.rstrip("/") + "/v1/heartbeats"
        self._headers = {**config.headers, "Content-Type": "application/json"}
        self._outbox: Outbox | None = None
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._watchers: dict[str, Watcher] = {}
        self._requests = 0
        self._failures = 0

    async def __aenter__(self) -> HeartbeatDelivery:
        cfg = self._config
        self._outbox = await asyncio.to_thread(
            Outbox, cfg.outbox_path, max_heartbeats=cfg.outbox_max_heartbeats
        )
        self._task = asyncio.create_task(self._run(), name="heartbeat-delivery")
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Stop sending and close the outbox; unsent heartbeats stay in its file."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass
            except Exception:  # already surfaced by flush(); closing must still close
                _log.exception("heartbeat delivery had stopped")
        outbox, self._outbox = self._outbox, None
        if outbox is not None:
            await asyncio.to_thread(outbox.close)

    async def enqueue(self, heartbeat: Heartbeat, *, is_state_change: bool) -> None:
        """Queue a heartbeat durably; it is sent as soon as those before it are.

        Args:
            heartbeat: The heartbeat.
            is_state_change: ``False`` for periodic heartbeats (coalescable when full).

        Raises:
            UsageError: The delivery is not running.
            HeartbeatError: The outbox failed.
        """
        outbox = self._running_outbox()
        await asyncio.to_thread(outbox.put, heartbeat, is_state_change=is_state_change)
        self._idle.clear()
        self._wake.set()

    def watch(self, session_id: str, watcher: Watcher) -> None:
        """Call ``watcher(heartbeats, reply)`` each time heartbeats of ``session_id`` are delivered.

        Args:
            session_id: The session.
            watcher: Gets the heartbeats the service accepted and its answer; it is called on
                the event loop and must not block.
        """
        self._watchers[session_id] = watcher

    def unwatch(self, session_id: str) -> None:
        """Stop calling the watcher of ``session_id``."""
        self._watchers.pop(session_id, None)

    async def flush(self) -> None:
        """Wait until the outbox is empty (everything delivered or refused).

        Raises:
            UsageError: The delivery is not running.
            Exception: Whatever stopped the sending task (e.g. a bug in ``call``).
        """
        self._running_outbox()
        task = self._task
        assert task is not None
        idle = asyncio.ensure_future(self._idle.wait())
        try:
            await asyncio.wait({idle, task}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            idle.cancel()
        if task.done():
            task.result()
            raise UsageError("HeartbeatDelivery stopped sending")

    async def stats(self) -> DeliveryStats:
        """Return the counters.

        Raises:
            UsageError: The delivery is not running.
        """
        outbox = await asyncio.to_thread(self._running_outbox().stats)
        return DeliveryStats(requests=self._requests, failures=self._failures, outbox=outbox)

    def _running_outbox(self) -> Outbox:
        if self._outbox is None:
            raise UsageError("HeartbeatDelivery is not running: use 'async with'")
        return self._outbox

    async def _run(self) -> None:
        outbox = self._running_outbox()
        limit = self._config.max_batch
        failures = 0
        batch: list[OutboxEntry] = []
        while True:
            try:
                if not batch:
                    self._wake.clear()
                    batch = await asyncio.to_thread(outbox.peek_batch, limit)
                while not batch:  # idle until an enqueue; it sets _wake after committing
                    if not self._wake.is_set():  # an enqueue may have raced the empty peek
                        self._idle.set()
                    await self._wake.wait()
                    self._wake.clear()
                    batch = await asyncio.to_thread(outbox.peek_batch, limit)
                outcome = await self._send(batch)
                if isinstance(outcome, str):
                    failures = 0
                    self._wake.clear()  # enqueues from here on are seen by advance or set it
                    batch = await asyncio.to_thread(
                        outbox.advance, batch, outcome=outcome, limit=limit
                    )
                    continue
            except HeartbeatError as exc:  # the outbox's file failed: keep trying
                _log.warning("%s", exc)
                outcome = 0.0
            failures += 1
            batch = []  # re-read after the pause: the bound rule may have changed the queue
            await asyncio.sleep(retry_delay_s(self._config, failures, outcome or None))

    async def _send(self, batch: list[OutboxEntry]) -> _Outcome | float:
        """Send one batch; return how it ended for good, or else the retry hint (0: none)."""
        body = batch[0].body if len(batch) == 1 else _batch_body(batch)
        self._requests += 1
        try:
            data = await self._call(self._url, method="POST", headers=self._headers, body=body)
        except HttpStatusError as exc:
            if 400 <= exc.status < 500 and exc.status not in _RETRYABLE_4XX:
                _log.warning("session service refused %d heartbeats: %s", len(batch), exc.status)
                return "rejected"
            return self._failed(exc)
        except TransportError as exc:
            return self._failed(exc)
        self._notify(batch, data)
        return "delivered"

    def _failed(self, exc: TransportError) -> float:
        """Count a failure; return the server's ``Retry-After`` (0 when it sent none)."""
        self._failures += 1
        _log.info("heartbeat delivery failed (%s); will retry", exc.code)
        errors = exc.attempts if isinstance(exc, AllEdgesFailed) else (exc,)
        hints = [e.retry_after_s for e in errors if isinstance(e, HttpStatusError)]
        return max((h for h in hints if h is not None), default=0.0)

    def _notify(self, batch: list[OutboxEntry], data: bytes) -> None:
        watcher = self._watchers.get(batch[0].session_id)
        if watcher is None:
            return
        try:
            reply = HeartbeatReply.decode(data)
        except HeartbeatError as exc:  # delivered all the same: a 2xx was received
            _log.warning("ignoring session service answer: %s", exc)
            reply = HeartbeatReply(action=HeartbeatAction.CONTINUE)
        try:
            heartbeats = [parse_heartbeat(json.loads(entry.body)) for entry in batch]
        except (ValueError, HeartbeatError) as exc:
            _log.warning("unreadable heartbeat in the outbox: %s", exc)
            heartbeats = []
        watcher(heartbeats, reply)


def _batch_body(batch: list[OutboxEntry]) -> bytes:
    return b'{"heartbeats":[' + b",".join(e.body for e in batch) + b"]}"
