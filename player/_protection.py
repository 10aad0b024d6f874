"""The player's DRM stage: licenses through the transport, decryption in worker threads.

drm/ owns the sans-I/O parts (license exchange, CENC and AES decryption). This adapter
supplies the network (a ``LicenseFetcher`` over ``transport.HttpClient``), the clock, and
the events, and runs decryption through ``asyncio.to_thread``.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable, Iterable, Mapping

from drm import (
    CLEARKEY_SYSTEM_ID,
    CencDecryptor,
    ContentKey,
    HlsKeyError,
    KeyManager,
    KeyNotFound,
    LicenseError,
    LicenseRequest,
    LicenseResponse,
    UnsupportedKeySystem,
    check_hls_key,
    configured_hls_key,
    decrypt_hls_segment,
    decrypt_sample_aes_ts,
    hls_iv,
    hls_key_from_data_uri,
    hls_key_iv,
    parse_init,
)
from player._clock import Clock
from player._cmcd_requests import Outgoing
from player._parts import Fetcher, Refusal
from player.config import PlayerConfig
from player.events import Event, LicenseAcquired, LicenseRefused
from player.manifest import ContentProtection, HlsKey, Representation, Segment
from transport import AllEdgesFailed, HttpClient, HttpStatusError

__all__: list[str] = []  # the Player builds it; see Player(processor=...)

_FULL_SEGMENT_METHODS = frozenset({"AES-128", "AES-256", "AES-256-CTR"})
_TS_SYNC = b"\x47"


KeyRequests = Callable[[tuple[str, ...]], Outgoing]
"""How a key or license request goes out: its locations and extra headers (CMCD ``ot=k``)."""
Refusals = Callable[[Refusal], None]
"""Told the KIDs a license server refused, once each (and again with the rendition whose
init segment named them)."""
_REFUSED_STATUS = 403
"""A license answer that refuses the KIDs asked for (not entitled), not a failure to ask."""


def _tag_iv(key: HlsKey) -> bytes | None:
    """The IV an HLS key's tag gives, padded as its number of hex digits says (drm decides)."""
    return None if key.iv is None else hls_key_iv(key.iv, hex_digits=key.iv_hex_digits)


def _plain(urls: tuple[str, ...]) -> Outgoing:
    return Outgoing(urls, None)


class TransportLicenseFetcher:
    """A ``drm.LicenseFetcher`` over the transport client: every HTTP status is returned.

    Args:
        http: The transport client.
        outgoing: Adds what the request carries besides the exchange (CMCD); none by default.
    """

    def __init__(self, http: HttpClient, *, outgoing: KeyRequests = _plain) -> None:
        self._http = http
        self._outgoing = outgoing

    async def __call__(self, request: LicenseRequest, /) -> LicenseResponse:
        """POST the license request and return the answer, whatever its status."""
        send = self._outgoing((request.url,))
        try:
            response = await self._http.fetch(
                send.urls,
                method="POST",
                headers={**request.headers, **(send.headers or {})},
                body=request.body,
            )
        except HttpStatusError as exc:
            return LicenseResponse(status=exc.status, body=b"")
        except AllEdgesFailed as exc:
            last = exc.attempts[-1] if exc.attempts else None
            if isinstance(last, HttpStatusError):
                return LicenseResponse(status=last.status, body=b"")
            raise
        return LicenseResponse(
            status=response.status,
            body=response.content,
            headers=dict(response.headers),
            elapsed_s=response.sample.duration_s,
        )


def _clearkey_license_url(rep: Representation) -> str | None:
    for protection in rep.protections:
        if protection.license_url and (
            protection.system_id in (None, CLEARKEY_SYSTEM_ID) or len(rep.protections) == 1
        ):
            return protection.license_url
    return next((p.license_url for p in rep.protections if p.license_url), None)


class DrmProcessor:
    """Decrypts CENC (``cenc``/``cbcs``/``cens``/``cbc1``) and HLS full-segment AES content.

    Keys come from ``config.drm.keys``, the license cache, or one license request per set
    of KIDs (ClearKey). ``LicenseAcquired`` is emitted once per acquisition.

    Args:
        config: Player configuration (its ``drm`` section is used).
        http: Transport client for license requests and HLS key URIs.
        clock: Session clock (license latency is measured on it).
        emit: Event sink.
        outgoing: Adds CMCD (``ot=k``) to license and key requests; none by default.
        on_refused: Told the KIDs a license server refused (a 403, or a partial licence
            that leaves them out): the session takes their renditions out of the ladders
            (``RenditionsRestricted``). Without it a refusal is raised, as any license
            failure.

    Attributes:
        refused: KIDs refused so far (hex -> the server's answer).
    """

    def __init__(
        self,
        config: PlayerConfig,
        *,
        http: Fetcher,
        clock: Clock,
        emit: Callable[[Event], None],
        outgoing: KeyRequests = _plain,
        on_refused: Refusals | None = None,
    ) -> None:
        fetcher = (
            TransportLicenseFetcher(http, outgoing=outgoing)
            if isinstance(http, HttpClient)
            else None
        )
        self._outgoing = outgoing
        self._manager = KeyManager(config.drm, fetcher=fetcher, clock=clock.now, sleep=clock.sleep)
        self._config = config
        self._http = http
        self._clock = clock
        self._emit = emit
        self._decryptors: dict[bytes, CencDecryptor] = {}
        self._hls_keys: dict[str, bytes] = {}
        self._prefetch: asyncio.Task[None] | None = None
        self._configured = frozenset(config.drm.keys)
        self._reported: set[str] = set()
        self._on_refused = on_refused
        self.refused: dict[str, str] = {}

    def prefetch(self, reps: Iterable[Representation]) -> None:
        """Start acquiring the KIDs the manifest declares, in parallel with first downloads."""
        sets: dict[str | None, set[tuple[str, ...]]] = {}
        for rep in reps:
            if rep.kids:
                sets.setdefault(_clearkey_license_url(rep), set()).add(rep.kids)
        if not sets or self._prefetch is not None:
            return

        async def run() -> None:
            for url, kid_sets in sets.items():
                try:
                    await self._acquire({k for kids in kid_sets for k in kids}, license_url=url)
                except LicenseError as exc:
                    if not self._refuses(exc) or len(kid_sets) == 1:
                        raise
                    # the server refuses a request naming any KID it will not grant: ask
                    # for each rendition's KIDs alone, then restrict what it refused at once
                    refused: dict[str, str] = {}
                    for kids in sorted(kid_sets):
                        refused.update((await self._try_acquire(kids, license_url=url))[1])
                    self._refuse(refused)

        self._prefetch = asyncio.ensure_future(run())

    def _refuses(self, exc: LicenseError) -> bool:
        """Whether ``exc`` refuses the KIDs asked for (and the session can restrict them)."""
        return self._on_refused is not None and exc.status == _REFUSED_STATUS

    async def _try_acquire(
        self, kids: Iterable[str], *, license_url: str | None
    ) -> tuple[dict[str, ContentKey], dict[str, str]]:
        """The keys of ``kids``, and the KIDs refused with ``403`` (KID -> why).

        Other failures are raised.
        """
        try:
            return await self._acquire(kids, license_url=license_url), {}
        except LicenseError as exc:
            if not self._refuses(exc):
                raise
            return {}, dict.fromkeys(kids, f"license server answered HTTP {exc.status}")

    def _refuse(self, refused: Mapping[str, str]) -> None:
        """Record refused KIDs (hex -> why) still without a key; tell the session of new ones."""
        missing = self._manager.cache.missing(tuple(sorted(refused)), now=self._clock.now())
        new = {kid: refused[kid] for kid in missing if kid not in self.refused}
        self.refused.update(new)
        if self._on_refused is not None and new:
            self._on_refused(Refusal(new))

    async def _acquire(
        self, kids: Iterable[str], *, license_url: str | None
    ) -> dict[str, ContentKey]:
        """Keys for ``kids``; KIDs a partial licence left out are reported, not returned.

        Without ``on_refused`` a partial licence raises ``KeyNotFound``, as before.
        """
        wanted = tuple(sorted(set(kids)))
        started = self._clock.now()
        try:
            with self._clock.busy():
                result = await self._manager.acquire(
                    wanted, license_url=license_url, partial=self._on_refused is not None
                )
        except LicenseError as exc:
            if exc.status is not None:
                now = self._clock.now()
                self._emit(
                    LicenseRefused(
                        at_s=now, kids=wanted, status=exc.status, latency_s=now - started
                    )
                )
            raise
        granted = tuple(kid for kid in wanted if kid not in result.withheld)
        if granted and (result.fetched or not set(granted) <= self._reported):
            if result.fetched:
                source = "license-server"
            else:
                source = "config" if set(granted) <= self._configured else "cache"
            self._emit(
                LicenseAcquired(
                    at_s=self._clock.now(),
                    kids=granted,
                    latency_s=result.latency_s or 0.0,
                    source=source,
                )
            )
        self._reported.update(granted)
        if result.withheld:
            self._refuse(dict.fromkeys(result.withheld, "the license server's answer left it out"))
        return dict(result.keys)

    async def _wait_prefetch(self) -> None:
        """Wait for the manifest-declared licenses; re-raises their failure."""
        task = self._prefetch
        if task is not None:
            with self._clock.busy():
                await asyncio.shield(task)

    async def prepare_init(
        self, rep: Representation, init: bytes, *, key: HlsKey | None = None
    ) -> bytes:
        """Return the clear init segment, acquiring the keys it needs first.

        Args:
            rep: The representation.
            init: The downloaded init segment.
            key: HLS key in force for the ``EXT-X-MAP``: a whole-init method decrypts it.

        Raises:
            DrmError: License or key failure, or a malformed init segment.
        """
        if not init:
            return init
        if key is not None and key.method in _FULL_SEGMENT_METHODS:
            secret = await self._hls_key(key)
            init = await asyncio.to_thread(
                decrypt_hls_segment,
                init,
                secret,
                iv=_tag_iv(key),
                media_sequence=0,
                method=key.method,
            )
        sea = _sea_protection(rep)
        if sea is not None:
            return await self._whole_segment(sea, init, media_sequence=0)
        info = await asyncio.to_thread(parse_init, init)
        kids = set(info.key_ids()) | set(rep.kids)
        if not info.key_ids():
            return init
        await self._wait_prefetch()
        keys: dict[str, ContentKey] = {}
        if not kids & self.refused.keys():
            keys, refusal = await self._try_acquire(kids, license_url=_clearkey_license_url(rep))
            self._refuse(refusal)
        refused = sorted(kids & self.refused.keys())
        if refused:
            reason = self.refused[refused[0]]
            if self._on_refused is not None:
                self._on_refused(Refusal({k: self.refused[k] for k in refused}, rep.id))
            raise KeyNotFound(
                f"the license server refused KID {refused[0]} of rendition {rep.id} ({reason})",
                key_id=refused[0],
            )
        decryptor = CencDecryptor(init, keys)
        self._decryptors[hashlib.sha1(init, usedforsecurity=False).digest()] = decryptor
        return decryptor.clear_init()

    async def process_segment(
        self, rep: Representation, segment: Segment, data: bytes, *, init: bytes
    ) -> bytes:
        """Decrypt one media segment (pass-through when it is clear).

        Raises:
            DrmError: A key is missing or the data cannot be decrypted.
        """
        key = segment.key
        if key is not None and key.method in _FULL_SEGMENT_METHODS:
            secret = await self._hls_key(key)
            return await asyncio.to_thread(
                decrypt_hls_segment,
                data,
                secret,
                iv=_tag_iv(key),
                media_sequence=segment.number,
                method=key.method,
            )
        if key is not None and key.method == "SAMPLE-AES" and not init:
            return await self._sample_aes_ts(key, data, media_sequence=segment.number)
        sea = _sea_protection(rep)
        if sea is not None:
            return await self._whole_segment(sea, data, media_sequence=segment.number)
        if not init:
            return data
        decryptor = self._decryptors.get(hashlib.sha1(init, usedforsecurity=False).digest())
        if decryptor is None:
            return data
        clear = await asyncio.to_thread(decryptor.decrypt_segment, data)
        return bytes(clear)

    async def _whole_segment(
        self, protection: ContentProtection, data: bytes, *, media_sequence: int
    ) -> bytes:
        """DASH SEA ``aes128-cbc``: the whole resource is AES-128-CBC with PKCS#7."""
        key = HlsKey(method="AES-128", uri=protection.license_url, iv=protection.iv)
        secret = await self._hls_key(key)
        return await asyncio.to_thread(
            decrypt_hls_segment, data, secret, iv=key.iv, media_sequence=media_sequence
        )

    async def _sample_aes_ts(self, key: HlsKey, data: bytes, *, media_sequence: int) -> bytes:
        """HLS ``SAMPLE-AES`` in MPEG-TS (fMP4 ``SAMPLE-AES`` is ``cbcs``, with an init)."""
        if data[:1] != _TS_SYNC:
            raise UnsupportedKeySystem(
                "SAMPLE-AES segment is neither MPEG-TS nor fragmented MP4 "
                "(packed audio is not supported)"
            )
        secret = await self._hls_key(key)
        tag_iv = _tag_iv(key)
        iv = tag_iv if tag_iv is not None else hls_iv(media_sequence)
        return await asyncio.to_thread(decrypt_sample_aes_ts, data, secret, iv)

    async def _hls_key(self, key: HlsKey) -> bytes:
        """The key of an HLS identity key: configured out of band, or from its URI."""
        cache_key = key.uri or f"kid:{key.key_id}"
        cached = self._hls_keys.get(cache_key)
        if cached is not None:
            return cached
        secret = configured_hls_key(self._config.drm, uri=key.uri, key_id=key.key_id)
        latency, source = 0.0, "config"
        if secret is None:
            if key.keyformat != "identity":
                raise UnsupportedKeySystem(
                    f"{key.method} key format {key.keyformat[:60]!r} is not supported "
                    "(identity keys only, or a key in DrmConfig.hls_keys)"
                )
            if key.uri is None:
                raise HlsKeyError(f"{key.method} segment key has no URI and none is configured")
            source = "key-uri"
            if key.uri[:5].lower() == "data:":
                secret = hls_key_from_data_uri(key.uri)
            else:
                started = self._clock.now()
                send = self._outgoing((key.uri,))
                with self._clock.busy():
                    response = await self._http.fetch(send.urls, headers=send.headers or None)
                secret, latency = response.content, self._clock.now() - started
        check_hls_key(secret, method=key.method, uri=key.uri if source == "key-uri" else None)
        self._hls_keys[cache_key] = secret
        self._emit(
            LicenseAcquired(at_s=self._clock.now(), kids=(), latency_s=latency, source=source)
        )
        return secret


def _sea_protection(rep: Representation) -> ContentProtection | None:
    for protection in rep.protections:
        if (
            protection.system_id is None
            and protection.scheme == "AES-128"
            and protection.license_url
        ):
            return protection
    return None
