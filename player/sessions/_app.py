"""The reference session service as a plain ASGI app (served over HTTPS by the lab's server).

Routes (all JSON, all need ``Authorization: Bearer <token>``):

- ``POST /v1/heartbeats``: one heartbeat or ``{"heartbeats": [...]}`` ->
  ``{"action": "continue"|"terminate", "reason": ...}``
- ``GET /v1/positions/{viewer_id}/{title_id}`` -> ``{"position_s", "device_id", "ts"}`` or 404
- ``GET /v1/sessions`` -> ``{"sessions": [...]}``, the caller's active sessions

Errors are ``{"error": <code>, "detail": <text>}`` with a 4xx status. A refused request's
body is read and discarded (up to ``max_drain_bytes``) before the answer, so the client reads
the answer and may keep its connection; a larger one is answered with ``Connection: close``.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from functools import partial
from typing import Any, TypeVar
from urllib.parse import unquote

from player.config import SessionServiceConfig
from player.errors import HeartbeatError, PlayerConfigError
from player.heartbeat._model import Heartbeat, is_wire_id, parse_heartbeat_body
from player.sessions._store import SessionConflict, SessionStore

__all__ = ["SessionService"]

_log = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
_T = TypeVar("_T")


class _Reject(Exception):
    """A request is refused: answered with ``status`` and a JSON error (private)."""

    def __init__(self, status: int, error: str, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.error = error
        self.detail = detail


def _token_key(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def _no_constants(name: str) -> object:
    raise ValueError(f"{name} is not JSON")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        raise ValueError("duplicate key")
    return obj


class SessionService:
    """ASGI app: heartbeats, resume positions and stream limits, on SQLite.

    Args:
        config: Limits: streams per viewer, session timeout, body size, batch size.
        db_path: SQLite file, created if missing (``":memory:"`` for a throwaway one).
        tokens: ``{viewer_id: bearer_token}``; a token only ever acts as its viewer.
        clock: The service's wall clock in Unix seconds (injectable for tests). Liveness,
            the stream limit and the bounds on ``ts`` are judged on it, never on a device's.

    Raises:
        PlayerConfigError: A viewer id is invalid or two viewers share a token.
        HeartbeatError: The database cannot be opened.
    """

    def __init__(
        self,
        config: SessionServiceConfig,
        *,
        db_path: str,
        tokens: Mapping[str, str],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._config = config
        self._clock = clock
        self._viewers: dict[bytes, str] = {}
        for viewer_id, token in tokens.items():
            if not is_wire_id(viewer_id) or not token:
                raise PlayerConfigError(f"invalid viewer id or empty token for {viewer_id!r}")
            if self._viewers.setdefault(_token_key(token), viewer_id) != viewer_id:
                raise PlayerConfigError("two viewers share one token")
        self.store = SessionStore(config, db_path)
        """The service's state (read it directly in tests and benchmarks)."""
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sessions-db")

    def close(self) -> None:
        """Stop the database thread and close the database."""
        self._executor.shutdown(wait=True)
        self.store.close()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one ASGI connection scope (``http`` or ``lifespan``)."""
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        body = _Body(scope, receive)
        try:
            status, payload = await self._route(scope, body)
        except _Reject as exc:
            status, payload = exc.status, {"error": exc.error, "detail": exc.detail}
        is_drained = await body.drain(self._config.max_drain_bytes)
        await _respond(send, status, payload, close=not is_drained and _is_http1(scope))

    async def _route(self, scope: Scope, body: _Body) -> tuple[int, object]:
        raw = scope.get("raw_path") or scope["path"].encode()
        parts = [unquote(p) for p in raw.decode("latin-1").split("?")[0].split("/")]
        method = scope["method"]
        if parts == ["", "v1", "heartbeats"]:
            _require(method, "POST")
            viewer_id = self._authenticate(scope)
            data = await body.read(self._config.max_body_bytes)
            return 200, await self._post_heartbeats(viewer_id, data)
        if len(parts) == 5 and parts[:3] == ["", "v1", "positions"]:
            _require(method, "GET")
            return await self._get_position(self._authenticate(scope), parts[3], parts[4])
        if parts == ["", "v1", "sessions"]:
            _require(method, "GET")
            viewer_id = self._authenticate(scope)
            work = partial(self.store.active_sessions, viewer_id, now=self._clock())
            found = await self._in_db(work)
            return 200, {"sessions": [asdict(s) for s in found]}
        raise _Reject(404, "not_found", "no such resource")

    def _authenticate(self, scope: Scope) -> str:
        for name, value in scope.get("headers", ()):
            if name.lower() == b"authorization":
                scheme, _, token = value.decode("latin-1").partition(" ")
                if scheme.lower() == "bearer" and token:
                    viewer_id = self._viewers.get(_token_key(token.strip()))
                    if viewer_id is not None:
                        return viewer_id
                raise _Reject(401, "unauthenticated", "unknown bearer token")
        raise _Reject(401, "unauthenticated", "missing 'Authorization: Bearer <token>'")

    async def _post_heartbeats(self, viewer_id: str, body: bytes) -> dict[str, object]:
        try:
            obj = json.loads(body, parse_constant=_no_constants, object_pairs_hook=_unique_keys)
        except (ValueError, RecursionError) as exc:
            raise _Reject(400, "malformed_json", "the body is not valid JSON") from exc
        try:
            heartbeats = parse_heartbeat_body(obj, max_batch=self._config.max_batch)
        except HeartbeatError as exc:
            raise _Reject(422, "invalid_heartbeat", str(exc)) from exc
        if any(hb.viewer_id != viewer_id for hb in heartbeats):
            raise _Reject(403, "forbidden", "a heartbeat names another viewer")
        now = self._clock()
        self._check_ts(heartbeats, now=now)
        try:
            reply = await self._in_db(partial(self.store.record, heartbeats, now=now))
        except SessionConflict as exc:
            raise _Reject(409, exc.error, exc.detail) from exc
        return {"action": reply.action.value, "reason": reply.reason}

    def _check_ts(self, heartbeats: list[Heartbeat], *, now: float) -> None:
        """Refuse device timestamps too far from the service clock (they order positions)."""
        for hb in heartbeats:
            ahead_s = hb.ts - now
            if -self._config.max_ts_age_s <= ahead_s <= self._config.max_ts_ahead_s:
                continue
            side, bound_s = (
                ("ahead of", self._config.max_ts_ahead_s)
                if ahead_s > 0
                else ("behind", self._config.max_ts_age_s)
            )
            raise _Reject(
                422,
                "ts_out_of_range",
                f"heartbeat {hb.id!r}: 'ts' is {abs(ahead_s):.0f} s {side} the service clock;"
                f" at most {bound_s:g} s is accepted",
            )

    async def _get_position(self, viewer_id: str, owner: str, title_id: str) -> tuple[int, object]:
        if not is_wire_id(owner) or not is_wire_id(title_id):
            raise _Reject(400, "invalid_id", "viewer and title ids must be 1-128 [A-Za-z0-9._:@-]")
        if owner != viewer_id:
            raise _Reject(403, "forbidden", "positions of another viewer")
        found = await self._in_db(partial(self.store.position, viewer_id, title_id))
        if found is None:
            raise _Reject(404, "no_position", "no position stored for this title")
        return 200, asdict(found)

    async def _in_db(self, work: Callable[[], _T]) -> _T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, work)


def _require(method: str, allowed: str) -> None:
    if method != allowed:
        raise _Reject(405, "method_not_allowed", f"use {allowed}")


class _Body:
    """A request's body, read through ASGI ``receive``: bounded, and drained when refused."""

    def __init__(self, scope: Scope, receive: Receive) -> None:
        self._headers = {name.lower(): value for name, value in scope.get("headers", ())}
        self._receive = receive
        self._size = 0
        self._is_done = False

    async def read(self, limit: int) -> bytes:
        """Return the JSON body, at most ``limit`` bytes.

        Raises:
            _Reject: 415 (not JSON), 413 (too large) or 400 (the client went away).
        """
        content_type = self._headers.get(b"content-type", b"").split(b";")[0].strip().lower()
        if content_type != b"application/json":
            raise _Reject(415, "unsupported_media_type", "send 'Content-Type: application/json'")
        if self._declared() > limit:
            raise _Reject(413, "too_large", f"bodies are limited to {limit} bytes")
        chunks: list[bytes] = []
        while not self._is_done:
            chunks.append(await self._next())
            if self._size > limit:
                raise _Reject(413, "too_large", f"bodies are limited to {limit} bytes")
        return b"".join(chunks)

    async def drain(self, limit: int) -> bool:
        """Read and discard what is left of the body, unless that is more than ``limit`` bytes.

        Returns:
            Whether the whole body was read (else the connection must not be reused).
        """
        if self._declared() > limit:
            return False
        try:
            while not self._is_done and self._size <= limit:
                await self._next()
        except _Reject:
            return False
        return self._is_done and self._size <= limit

    def _declared(self) -> int:
        declared = self._headers.get(b"content-length", b"")
        return int(declared) if declared.isdigit() else 0

    async def _next(self) -> bytes:
        message = await self._receive()
        if message["type"] == "http.disconnect":
            self._is_done = True
            raise _Reject(400, "disconnected", "the client went away")
        chunk: bytes = message.get("body", b"")
        self._size += len(chunk)
        self._is_done = not message.get("more_body", False)
        return chunk


def _is_http1(scope: Scope) -> bool:
    return str(scope.get("http_version", "1.1")).startswith("1")


async def _respond(send: Send, status: int, payload: object, *, close: bool) -> None:
    body = json.dumps(payload, separators=(",", ":")).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if status == 401:
        headers.append((b"www-authenticate", b'Bearer realm="sessions"'))
    if close:  # HTTP/1.1: the unread rest of the body makes the connection unusable
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    try:
        await send({"type": "http.response.body", "body": body})
    except OSError as exc:
        if not close:
            raise
        # closing while the client still sends its body fails the TLS close; the answer left
        _log.debug("connection closed uncleanly after a refused body: %s", exc)


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
