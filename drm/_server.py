"""The lab's ClearKey license server: an ASGI app (served by ``transport.lab.LabServer``)."""

from __future__ import annotations

import binascii
import hmac
import json
import logging
import time
from collections.abc import Awaitable, Callable, Collection, Mapping
from typing import Any

from drm._keys import keys_from_hex
from drm._license import SessionType, b64url_decode, b64url_encode
from drm.config import LicensePolicy, LicenseServerConfig
from drm.errors import LicenseError

__all__ = ["LicenseServerApp"]

_log = logging.getLogger(__name__)

Scope = Mapping[str, Any]
Receive = Callable[[], Awaitable[Mapping[str, Any]]]
Send = Callable[[Mapping[str, Any]], Awaitable[None]]


class _HttpProblem(Exception):
    def __init__(self, status: int, error: str, detail: str) -> None:
        super().__init__(detail)
        self.status, self.error, self.detail = status, error, detail


class LicenseServerApp:
    """ASGI ClearKey license server: bearer token, entitlement rule, W3C ClearKey JSON.

    ``POST`` a body ``{"kids": [...], "type": "temporary"}`` with
    ``Authorization: Bearer <token>``; the answer is ``{"keys": [...], "type": ...}``.
    A ``"type": "persistent-license"`` request (offline playback) is answered only for a
    token whose ``LicensePolicy`` allows it, with ``"type": "persistent-license"`` and, when
    the policy gives a duration, ``"expiration"`` (milliseconds since the epoch, as EME's
    ``MediaKeySession.expiration``). Errors are JSON ``{"error": code, "detail": text}``:
    401 (no or unknown token), 403 (token not entitled to a KID, KID unknown, or
    ``persistent_not_entitled``; with ``LicenseServerConfig.partial_licenses`` only when
    no KID asked for is granted, the others being left out of the answer), 400 (malformed
    body, unknown type), 413 (body too large), 405 (not POST).

    Args:
        keys: ``{kid_hex: key_hex}`` the server can hand out.
        tokens: Bearer token -> KIDs it may receive (``"*"`` in the collection: all).
        config: Body and request limits.
        entitlement: An extra rule ``(token, kid) -> bool`` checked after ``tokens``
            (e.g. a subscription tier lookup); ``None`` allows what ``tokens`` allows.
        policies: Bearer token -> its ``LicensePolicy`` (offline rights, license duration);
            a token not listed gets ``LicensePolicy()``: no persistent licenses.
        wall: The server's clock for expiries, UTC epoch seconds.

    Attributes:
        requests_served: Count of license requests answered (any status).
    """

    def __init__(
        self,
        keys: Mapping[str, str],
        tokens: Mapping[str, Collection[str]],
        *,
        config: LicenseServerConfig | None = None,
        entitlement: Callable[[str, str], bool] | None = None,
        policies: Mapping[str, LicensePolicy] | None = None,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self._entitlement = entitlement
        self._policies = dict(policies or {})
        self._wall = wall
        self._keys = {kid: key.key for kid, key in keys_from_hex(keys).items()}
        self._tokens = {token: frozenset(kids) for token, kids in tokens.items()}
        self._config = config or LicenseServerConfig()
        self.requests_served = 0

    def __repr__(self) -> str:
        return f"LicenseServerApp(kids={sorted(self._keys)!r}, tokens={len(self._tokens)})"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one ASGI connection scope (``http`` or ``lifespan``)."""
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        self.requests_served += 1
        try:
            answer = await self._handle(scope, receive)
            await _respond(send, 200, answer)
        except _HttpProblem as problem:
            _log.info("license request refused: %s %s", problem.status, problem.error)
            await _respond(send, problem.status, {"error": problem.error, "detail": problem.detail})

    async def _handle(self, scope: Scope, receive: Receive) -> dict[str, Any]:
        if scope.get("method") != "POST":
            raise _HttpProblem(405, "method_not_allowed", "use POST")
        token, allowed = self._authorize(scope)
        body = await _read_body(receive, self._config.max_body_bytes)
        kids, session_type = self._requested(body)
        policy = self._policies.get(token, LicensePolicy())
        if session_type is SessionType.PERSISTENT_LICENSE and not policy.allow_persistent:
            raise _HttpProblem(
                403, "persistent_not_entitled", "token may not receive persistent licenses"
            )
        answer = []
        for kid in kids:
            granted = kid in self._keys and ("*" in allowed or kid in allowed)
            if not granted or (self._entitlement and not self._entitlement(token, kid)):
                if self._config.partial_licenses:
                    continue  # left out of the answer: a partial licence
                raise _HttpProblem(403, "not_entitled", f"token may not receive KID {kid}")
            kid_b64 = b64url_encode(binascii.unhexlify(kid))
            answer.append({"kty": "oct", "kid": kid_b64, "k": b64url_encode(self._keys[kid])})
        if not answer:
            raise _HttpProblem(403, "not_entitled", f"token may not receive KID {kids[0]}")
        license_doc: dict[str, Any] = {"keys": answer, "type": session_type.value}
        if session_type is SessionType.PERSISTENT_LICENSE and policy.persistent_duration_s:
            expires_at_s = self._wall() + policy.persistent_duration_s
            license_doc["expiration"] = round(expires_at_s * 1000)
        return license_doc

    def _authorize(self, scope: Scope) -> tuple[str, frozenset[str]]:
        headers = {
            k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])
        }
        scheme, _, token = headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise _HttpProblem(401, "unauthorized", "a bearer token is required")
        for known, kids in self._tokens.items():
            if hmac.compare_digest(known.encode(), token.strip().encode()):
                return known, kids
        raise _HttpProblem(401, "unauthorized", "unknown bearer token")

    def _requested(self, body: bytes) -> tuple[list[str], SessionType]:
        try:
            doc = json.loads(body)
        except (ValueError, RecursionError):
            raise _HttpProblem(400, "bad_request", "body is not JSON") from None
        if not isinstance(doc, dict) or not isinstance(doc.get("kids"), list) or not doc["kids"]:
            raise _HttpProblem(400, "bad_request", "body needs a non-empty 'kids' list")
        if len(doc["kids"]) > self._config.max_kids:
            raise _HttpProblem(
                400, "bad_request", f"at most {self._config.max_kids} kids per request"
            )
        try:
            session_type = SessionType(doc.get("type", SessionType.TEMPORARY.value))
        except (ValueError, TypeError):
            raise _HttpProblem(400, "bad_request", "unknown session 'type'") from None
        try:
            return [b64url_decode(kid, what="kid").hex() for kid in doc["kids"]], session_type
        except LicenseError as exc:
            raise _HttpProblem(400, "bad_request", str(exc)) from None


async def _read_body(receive: Receive, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _HttpProblem(400, "bad_request", "client went away")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise _HttpProblem(413, "too_large", f"body exceeds {limit} bytes")
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


async def _respond(send: Send, status: int, doc: Mapping[str, Any]) -> None:
    body = json.dumps(doc, separators=(",", ":")).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if status == 401:
        headers.append((b"www-authenticate", b"Bearer"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
