"""``KeyManager``: the thin async adapter around the license core and the key cache."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field

from drm._hls_key import describe_key_uri
from drm._keys import ContentKey, keys_from_hex
from drm._license import (
    LicenseCache,
    LicenseExchange,
    LicenseFetcher,
    LicenseResponse,
    PersistentLicense,
    SessionType,
)
from drm._pssh import normalize_kid
from drm.config import DrmConfig
from drm.errors import KeyNotFound, LicenseError

__all__ = ["KeyAcquisition", "KeyManager"]

_log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class KeyAcquisition:
    """The outcome of :meth:`KeyManager.acquire`.

    Attributes:
        keys: Keys for every KID asked for, by KID hex.
        fetched: KIDs that needed a license request in this call (empty: all cached).
        latency_s: Wall time of the license exchange including retries, or ``None``
            when no request was made.
        attempts: License requests sent in this call.
        withheld: KIDs the license server's answer left out (a partial licence; only with
            ``acquire(..., partial=True)``, which then returns without them).
    """

    keys: Mapping[str, ContentKey] = field(repr=False)
    fetched: tuple[str, ...] = ()
    latency_s: float | None = None
    attempts: int = 0
    withheld: tuple[str, ...] = ()


class KeyManager:
    """Gets keys for KIDs: from config, from the cache, else with one license request.

    All KIDs missing at once go into a single request. Network failures, timeouts and
    5xx answers are retried (``DrmConfig.license_attempts``); a 4xx is final.

    Args:
        config: The drm configuration (license URL, headers, keys, limits).
        fetcher: Sends license requests (the player passes the transport's client);
            ``None`` when all keys come from config.
        cache: A cache to share between managers (a new one by default).
        clock: Monotonic clock in seconds (a virtual clock in headless runs).
        sleep: Async sleep used between retries.
    """

    def __init__(
        self,
        config: DrmConfig,
        *,
        fetcher: LicenseFetcher | None = None,
        cache: LicenseCache | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._config = config
        self._fetcher = fetcher
        self.cache = cache if cache is not None else LicenseCache()
        self.cache.put(keys_from_hex(config.keys).values())
        self._clock = clock
        self._sleep = sleep
        self._lock = asyncio.Lock()
        self.latencies_s: list[float] = []
        """License latencies of the requests made so far (s), for stats."""

    def __repr__(self) -> str:
        return f"KeyManager(cache={self.cache!r})"

    async def acquire(
        self, key_ids: Iterable[str], *, license_url: str | None = None, partial: bool = False
    ) -> KeyAcquisition:
        """Return keys for all ``key_ids``, fetching the missing ones in one request.

        Args:
            key_ids: KIDs the content needs (hex or UUID form).
            license_url: The manifest's license URL (``DrmConfig.license_url`` wins).
            partial: Accept an answer that leaves some KIDs out (a partial licence, e.g.
                an entitlement without HD): they are returned in ``withheld`` instead of
                raising ``KeyNotFound``.

        Returns:
            The keys and how they were obtained.

        Raises:
            LicenseError: The license request failed (``.status`` set for HTTP errors).
            KeyNotFound: A KID is still without a key (no server, or not in the answer
                unless ``partial``).
        """
        wanted = tuple(sorted({normalize_kid(k) for k in key_ids}))
        async with self._lock:
            missing = self.cache.missing(wanted, now=self._clock())
            latency, attempts = None, 0
            if missing:
                url = self._config.license_url or license_url
                if self._fetcher is None or url is None:
                    raise KeyNotFound(
                        f"no key for KID {missing[0]} and no license server", key_id=missing[0]
                    )
                started = self._clock()
                keys, attempts = await self._exchange(
                    LicenseExchange(missing, url=url, config=self._config)
                )
                latency = self._clock() - started
                self.latencies_s.append(latency)
                self.cache.put(keys.values())
                _log.info(
                    "license for %d KIDs in %.3f s (%d attempts)", len(missing), latency, attempts
                )
            now = self._clock()
            found: dict[str, ContentKey] = {}
            withheld: list[str] = []
            for kid in wanted:
                key = self.cache.get(kid, now=now)
                if key is not None:
                    found[kid] = key
                elif partial:
                    withheld.append(kid)
                else:
                    raise KeyNotFound(f"license server gave no key for KID {kid}", key_id=kid)
            return KeyAcquisition(found, missing, latency, attempts, tuple(withheld))

    async def acquire_persistent(
        self, key_ids: Iterable[str], *, license_url: str | None = None
    ) -> PersistentLicense:
        """Ask for a ``persistent-license`` (offline playback) for ``key_ids``; never cached.

        Network failures, timeouts and 5xx answers are retried as for :meth:`acquire`.

        Args:
            key_ids: KIDs the content needs.
            license_url: The manifest's license URL (``DrmConfig.license_url`` wins).

        Returns:
            The keys and the expiry the server stated, for the caller to store.

        Raises:
            LicenseError: The request failed, was refused (a 403 when the entitlement gives
                no offline rights), or the server issued another type of license.
            KeyNotFound: No license server is known, or the answer lacks a KID.
        """
        wanted = tuple(sorted({normalize_kid(k) for k in key_ids}))
        url = self._config.license_url or license_url
        if self._fetcher is None or url is None:
            raise KeyNotFound(
                f"no license server for a persistent license for KID {wanted[0]}",
                key_id=wanted[0],
            )
        exchange = LicenseExchange(
            wanted, url=url, config=self._config, session_type=SessionType.PERSISTENT_LICENSE
        )
        started = self._clock()
        response, attempts = await self._send(exchange)
        found = exchange.receive_persistent_license(response)
        self.latencies_s.append(self._clock() - started)
        _log.info("persistent license for %d KIDs (%d attempts)", len(wanted), attempts)
        for kid in wanted:
            if kid not in found.keys:
                raise KeyNotFound(f"license server gave no key for KID {kid}", key_id=kid)
        return found

    async def _exchange(self, exchange: LicenseExchange) -> tuple[dict[str, ContentKey], int]:
        response, attempts = await self._send(exchange)
        return exchange.receive_response(response, now=self._clock()), attempts

    async def _send(self, exchange: LicenseExchange) -> tuple[LicenseResponse, int]:
        """POST the exchange's request, retrying network failures, timeouts and 5xx."""
        assert self._fetcher is not None
        request = exchange.build_request()
        where = describe_key_uri(exchange.url)  # no query: it may carry a token
        error: LicenseError | None = None
        for attempt in range(1, self._config.license_attempts + 1):
            if attempt > 1:
                await self._sleep(self._config.license_retry_delay_s * 2 ** (attempt - 2))
            try:
                response: LicenseResponse = await asyncio.wait_for(
                    self._fetcher(request), timeout=self._config.license_timeout_s
                )
            except TimeoutError:
                error = LicenseError(f"license server {where} timed out")
                continue
            except Exception as exc:  # the fetcher's network errors, whatever their library
                error = LicenseError(f"license request to {where} failed: {type(exc).__name__}")
                continue
            if response.status >= 500:
                error = LicenseError(
                    f"license server {where} answered HTTP {response.status}",
                    status=response.status,
                )
                continue
            return response, attempt
        assert error is not None
        raise error
