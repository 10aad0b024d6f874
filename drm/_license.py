"""The W3C ClearKey license exchange as a sans-I/O core, and a key cache.

The core builds a :class:`LicenseRequest` and turns a :class:`LicenseResponse` into
keys; it never sends anything. :class:`drm.KeyManager` (in ``_manager.py``) is the thin
adapter that sends the request through a :class:`LicenseFetcher` the player supplies.

Two EME session types are spoken (:class:`SessionType`): ``temporary`` (keys for this
playback) and ``persistent-license`` (keys the client keeps for offline playback). ClearKey's
license format has no expiry member; a persistent license may carry ``expiration``, the
value EME exposes as ``MediaKeySession.expiration`` (milliseconds since 1970-01-01 UTC, the
one unit this SDK does not choose itself), read into :class:`PersistentLicense`.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

from drm._hls_key import describe_key_uri
from drm._keys import ContentKey
from drm._pssh import normalize_kid
from drm.config import DrmConfig
from drm.errors import DrmError, LicenseError, LicenseExpired

__all__ = [
    "LicenseCache",
    "LicenseExchange",
    "LicenseFetcher",
    "LicenseRequest",
    "LicenseResponse",
    "PersistentLicense",
    "SessionType",
    "b64url_decode",
    "b64url_encode",
    "build_clearkey_request",
    "parse_clearkey_response",
    "parse_persistent_license",
]

_B64URL_16 = re.compile(r"^[A-Za-z0-9_-]{22}$")


class SessionType(StrEnum):
    """The W3C EME ``MediaKeySessionType`` a license is asked for (and must be issued as)."""

    TEMPORARY = "temporary"
    """Keys for one playback, never stored."""
    PERSISTENT_LICENSE = "persistent-license"
    """Keys the client may store and use later without the network (offline playback)."""


def b64url_encode(raw: bytes) -> str:
    """Encode bytes as base64url without padding (RFC 7515 appendix C).

    >>> b64url_encode(bytes.fromhex("31323334353637383930313233343536"))
    'MTIzNDU2Nzg5MDEyMzQ1Ng'
    """
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def b64url_decode(text: object, *, what: str) -> bytes:
    """Strictly decode a 16-byte value in unpadded base64url.

    Args:
        text: The encoded value.
        what: What the value is, for the error message (``"kid"``, ``"k"``).

    Returns:
        The 16 bytes.

    Raises:
        LicenseError: Not exactly 22 canonical base64url characters.
    """
    if not isinstance(text, str) or not _B64URL_16.match(text):
        raise LicenseError(f"license {what} is not 22 unpadded base64url characters")
    raw = base64.urlsafe_b64decode(text + "==")
    if b64url_encode(raw) != text:
        raise LicenseError(f"license {what} is not canonical base64url")
    return raw


@dataclass(frozen=True, slots=True)
class LicenseRequest:
    """A license request to send; made by :meth:`LicenseExchange.build_request`.

    Attributes:
        url: Where to POST it (``http``/``https``).
        headers: Request headers, e.g. ``Content-Type`` and ``Authorization``.
        body: The ClearKey JSON body.
        key_ids: The KIDs asked for, 32 lowercase hex digits each.
    """

    url: str
    headers: Mapping[str, str] = field(repr=False)
    body: bytes
    key_ids: tuple[str, ...]

    def __repr__(self) -> str:
        return f"LicenseRequest(url={describe_key_uri(self.url)!r}, key_ids={self.key_ids!r})"


@dataclass(frozen=True, slots=True)
class LicenseResponse:
    """What came back from the license server.

    Attributes:
        status: The HTTP status.
        body: The response body (holds keys: never logged or shown).
        headers: Response headers.
        elapsed_s: Time the exchange took, when the fetcher measured it.
    """

    status: int
    body: bytes = field(repr=False)
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)
    elapsed_s: float | None = None

    def __repr__(self) -> str:
        return f"LicenseResponse(status={self.status}, body=<{len(self.body)} bytes>)"


class LicenseFetcher(Protocol):
    """Sends a :class:`LicenseRequest` and returns the :class:`LicenseResponse`.

    The player supplies one backed by the transport's HTTP client. It returns a response
    for every HTTP status (4xx and 5xx included) and raises for network failures.
    """

    async def __call__(self, request: LicenseRequest, /) -> LicenseResponse:
        """Send the request.

        Args:
            request: The request to POST.

        Returns:
            The response, whatever its status.
        """
        ...


def build_clearkey_request(
    key_ids: Iterable[str], *, session_type: SessionType = SessionType.TEMPORARY
) -> bytes:
    """Return the W3C EME ClearKey request body for some KIDs.

    Args:
        key_ids: KIDs in any form :func:`drm.normalize_kid` accepts.
        session_type: The session type asked for.

    Returns:
        ``{"kids": [...], "type": "temporary"}`` (or ``"persistent-license"``) as UTF-8 JSON.

    >>> build_clearkey_request(["31323334353637383930313233343536"])
    b'{"kids":["MTIzNDU2Nzg5MDEyMzQ1Ng"],"type":"temporary"}'
    """
    kids = [b64url_encode(binascii.unhexlify(normalize_kid(k))) for k in key_ids]
    body = {"kids": kids, "type": SessionType(session_type).value}
    return json.dumps(body, separators=(",", ":")).encode()


def _key_entry(item: object, requested: frozenset[str], expires_at: float | None) -> ContentKey:
    if not isinstance(item, dict):
        raise LicenseError("license key entry is not an object")
    if item.get("kty") != "oct":
        raise LicenseError("license key entry has kty other than 'oct'")
    kid = b64url_decode(item.get("kid"), what="kid").hex()
    if kid not in requested:
        raise LicenseError(f"license returned KID {kid} that was not requested")
    return ContentKey(kid, b64url_decode(item.get("k"), what=f"k for KID {kid}"), expires_at)


def parse_clearkey_response(
    body: bytes,
    *,
    requested: Iterable[str],
    max_bytes: int | None = None,
    expires_at: float | None = None,
) -> dict[str, ContentKey]:
    """Strictly parse a W3C ClearKey license (a JSON Web Key set).

    Args:
        body: The response body.
        requested: The KIDs asked for (hex); any other KID in the answer is an error.
        max_bytes: Largest body accepted (default: ``DrmConfig().max_license_bytes``).
        expires_at: Expiry to stamp on the keys (monotonic seconds).

    Returns:
        Keys by KID hex (possibly fewer than requested).

    Raises:
        LicenseError: The body is too large, not JSON, or not a well-formed key set.
    """
    if max_bytes is None:
        max_bytes = DrmConfig().max_license_bytes
    if len(body) > max_bytes:
        raise LicenseError(f"license response of {len(body)} bytes exceeds {max_bytes}")
    try:
        doc = json.loads(body)
    except (ValueError, RecursionError):
        raise LicenseError("license response is not JSON") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("keys"), list):
        raise LicenseError("license response has no 'keys' list")
    if "type" in doc and not isinstance(doc["type"], str):
        raise LicenseError("license response 'type' is not a string")
    wanted = frozenset(requested)
    keys: dict[str, ContentKey] = {}
    for item in doc["keys"][: len(wanted) + 1]:
        key = _key_entry(item, wanted, expires_at)
        keys[key.kid] = key
    if len(doc["keys"]) > len(wanted):
        raise LicenseError("license response holds more keys than were requested")
    return keys


@dataclass(frozen=True, slots=True, repr=False)
class PersistentLicense:
    """Keys of a ``persistent-license`` session, with the expiry the server stated.

    Attributes:
        keys: Keys by KID hex (their ``expires_at`` is ``None``: the license's expiry is a
            wall-clock time, checked with :meth:`check`).
        expires_at_s: When the license stops being usable, UTC epoch seconds; ``None``
            when the server stated no expiry.
    """

    keys: Mapping[str, ContentKey]
    expires_at_s: float | None = None

    def __repr__(self) -> str:
        return f"PersistentLicense(kids={sorted(self.keys)!r}, expires_at_s={self.expires_at_s!r})"

    def is_expired(self, *, now: float) -> bool:
        """Whether the license is past its expiry at ``now`` (UTC epoch seconds)."""
        return self.expires_at_s is not None and now >= self.expires_at_s

    def check(self, *, now: float) -> None:
        """Refuse an expired license.

        Args:
            now: Wall-clock time, UTC epoch seconds.

        Raises:
            LicenseExpired: ``now`` is at or past ``expires_at_s``.

        >>> PersistentLicense({}, expires_at_s=10.0).check(now=5.0)
        >>> PersistentLicense({}, expires_at_s=10.0).check(now=10.0)
        Traceback (most recent call last):
        ...
        drm.errors.LicenseExpired: persistent license for KIDs [] expired 0 s ago
        """
        if self.expires_at_s is not None and now >= self.expires_at_s:
            raise LicenseExpired(
                f"persistent license for KIDs {sorted(self.keys)} expired "
                f"{now - self.expires_at_s:.0f} s ago",
                expired_at_s=self.expires_at_s,
            )


def parse_persistent_license(
    body: bytes, *, requested: Iterable[str], max_bytes: int | None = None
) -> PersistentLicense:
    """Strictly parse a ClearKey ``persistent-license`` license.

    Args:
        body: The response body.
        requested: The KIDs asked for (hex).
        max_bytes: Largest body accepted (default: ``DrmConfig().max_license_bytes``).

    Returns:
        The keys and the stated expiry (``expiration``, milliseconds since the epoch in the
        JSON, as EME's ``MediaKeySession.expiration``; seconds here).

    Raises:
        LicenseError: Malformed, not of ``type`` ``persistent-license`` (EME: a license
            must match the session type asked for), or a bad ``expiration``.
    """
    keys = parse_clearkey_response(body, requested=requested, max_bytes=max_bytes)
    doc = json.loads(body)
    issued = doc.get("type", SessionType.TEMPORARY.value)
    if issued != SessionType.PERSISTENT_LICENSE.value:
        raise LicenseError(
            f"license server issued a {str(issued)[:40]!r} license for a persistent-license "
            "request: offline playback is not allowed for this content"
        )
    expiration = doc.get("expiration")
    if expiration is None:
        return PersistentLicense(keys)
    if (
        isinstance(expiration, bool)
        or not isinstance(expiration, int | float)
        or not math.isfinite(expiration)
        or expiration < 0
    ):
        raise LicenseError("license 'expiration' is not a time in milliseconds since the epoch")
    return PersistentLicense(keys, expires_at_s=float(expiration) / 1000.0)


class LicenseExchange:
    """One ClearKey license exchange for a set of KIDs (sans-I/O).

    Call :meth:`build_request`, send it (the caller does the I/O), then pass what came
    back to :meth:`receive_response`.

    >>> ex = LicenseExchange(["31323334353637383930313233343536"], url="https://lic.example/")
    >>> ex.build_request().url
    'https://lic.example/'
    """

    def __init__(
        self,
        key_ids: Iterable[str],
        *,
        url: str,
        config: DrmConfig | None = None,
        session_type: SessionType = SessionType.TEMPORARY,
    ) -> None:
        """Prepare the exchange.

        Args:
            key_ids: The KIDs to ask for, all in one request.
            url: The license server URL (config's ``license_url`` takes precedence).
            config: The drm configuration (headers, limits).
            session_type: The EME session type asked for; a ``persistent-license`` answer
                is read with :meth:`receive_persistent_license`.

        Raises:
            LicenseError: No KIDs, too many, or the URL is not http(s).
            DrmError: A KID is malformed.
        """
        self._config = config or DrmConfig()
        self.session_type = SessionType(session_type)
        self.key_ids = tuple(sorted({normalize_kid(k) for k in key_ids}))
        self.url = self._config.license_url or url
        if not self.key_ids or len(self.key_ids) > self._config.max_license_keys:
            raise LicenseError(f"a license request needs 1 to {self._config.max_license_keys} KIDs")
        if not self.url.startswith(("https://", "http://")):
            raise LicenseError("license URL must be http(s)")
        self.status: int | None = None

    def __repr__(self) -> str:
        return (
            f"LicenseExchange(url={describe_key_uri(self.url)!r}, key_ids={self.key_ids!r}, "
            f"status={self.status})"
        )

    def build_request(self) -> LicenseRequest:
        """Make the request; the caller must POST it and call :meth:`receive_response`.

        Returns:
            The request (JSON body, content type, configured headers).
        """
        headers = {"Content-Type": "application/json", **self._config.license_headers}
        body = build_clearkey_request(self.key_ids, session_type=self.session_type)
        return LicenseRequest(self.url, headers, body, self.key_ids)

    def receive_response(self, response: LicenseResponse, *, now: float) -> dict[str, ContentKey]:
        """Read the response; the caller may then cache the keys and decrypt.

        Args:
            response: What the fetcher returned.
            now: Current monotonic time (s), to stamp the keys' expiry.

        Returns:
            Keys by KID hex; KIDs the server did not answer are absent.

        Raises:
            LicenseError: Non-2xx status (``.status`` set) or a malformed body.
        """
        self._check_status(response)
        try:
            return parse_clearkey_response(
                response.body,
                requested=self.key_ids,
                max_bytes=self._config.max_license_bytes,
                expires_at=now + self._config.license_ttl_s,
            )
        except LicenseError as exc:
            where = describe_key_uri(self.url)
            raise LicenseError(f"{exc} (from {where})", status=response.status) from None
        except DrmError as exc:
            raise LicenseError(str(exc), status=response.status) from None

    def receive_persistent_license(self, response: LicenseResponse) -> PersistentLicense:
        """Read the answer to a ``persistent-license`` request; the caller may store it.

        Args:
            response: What the fetcher returned.

        Returns:
            The keys and the expiry the server stated.

        Raises:
            LicenseError: Non-2xx status (``.status`` set; a 403 is how the lab's server
                refuses an entitlement without offline rights), a malformed body, or a
                license of another type.
        """
        self._check_status(response)
        try:
            return parse_persistent_license(
                response.body, requested=self.key_ids, max_bytes=self._config.max_license_bytes
            )
        except DrmError as exc:
            where = describe_key_uri(self.url)
            raise LicenseError(f"{exc} (from {where})", status=response.status) from None

    def _check_status(self, response: LicenseResponse) -> None:
        self.status = response.status
        if not 200 <= response.status < 300:
            kind = "" if self.session_type is SessionType.TEMPORARY else f" ({self.session_type})"
            raise LicenseError(
                f"license server {describe_key_uri(self.url)} answered HTTP "
                f"{response.status}{kind}",
                status=response.status,
            )


class LicenseCache:
    """Keys by KID, shared across periods and renditions, dropped when expired (sans-I/O).

    >>> cache = LicenseCache()
    >>> cache.put([ContentKey("00" * 16, bytes(16), expires_at=10.0)])
    >>> cache.missing(["00" * 16], now=5.0), cache.missing(["00" * 16], now=11.0)
    ((), ('00000000000000000000000000000000',))
    """

    def __init__(self) -> None:
        """Start empty."""
        self._keys: dict[str, ContentKey] = {}

    def __repr__(self) -> str:
        return f"LicenseCache(kids={sorted(self._keys)!r})"

    def __len__(self) -> int:
        return len(self._keys)

    def put(self, keys: Iterable[ContentKey]) -> None:
        """Store keys (replacing older ones for the same KID)."""
        for key in keys:
            self._keys[key.kid] = key

    def get(self, kid: str, *, now: float) -> ContentKey | None:
        """Return the key for a KID if cached and not expired at ``now``."""
        key = self._keys.get(kid)
        if key is not None and key.expires_at is not None and now >= key.expires_at:
            del self._keys[kid]
            return None
        return key

    def missing(self, key_ids: Iterable[str], *, now: float) -> tuple[str, ...]:
        """Return the KIDs (sorted, deduplicated) with no valid key at ``now``."""
        return tuple(sorted({k for k in key_ids if self.get(k, now=now) is None}))
