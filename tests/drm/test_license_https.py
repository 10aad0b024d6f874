"""License exchange end to end: KeyManager -> the player's TransportLicenseFetcher -> lab HTTPS.

The fetcher is the production one (``player._protection.TransportLicenseFetcher`` over
``transport.HttpClient``), talking to the lab's ClearKey server on loopback: statuses come
back as ``LicenseError.status`` whether the transport raised ``HttpStatusError`` (4xx) or
gave up with ``AllEdgesFailed`` after retrying a 5xx; a dead server is a ``LicenseError``
without a status. A tiny httpx fetcher is kept only to send malformed bodies to the server.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from drm import (
    DrmConfig,
    KeyManager,
    KeyNotFound,
    LicenseError,
    LicenseFetcher,
    LicenseRequest,
    LicenseResponse,
    LicenseServerApp,
    LicenseServerConfig,
)
from player._protection import TransportLicenseFetcher
from transport import AllEdgesFailed, HttpClient, RetryConfig, TransportConfig
from transport.lab import LabServer, TestCA

KID = "31323334353637383930313233343536"
KEY = "32333435363738393021323334353637"
KID2 = "4060a865887842679cbf91ae5bae1e72"
KEY2 = "fc35340837310cc0fb53de97e22a69e0"


class SlowFirst:
    """ASGI wrapper: the first ``stalls`` requests hang for ``delay_s`` (a stalled server),
    and the next ``failures`` requests answer ``failure_status`` (an overloaded one)."""

    def __init__(self, app: LicenseServerApp, *, stalls: int, delay_s: float) -> None:
        self.app, self.stalls, self.delay_s = app, stalls, delay_s
        self.failures, self.failure_status, self.requests = 0, 503, 0

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            self.requests += 1
        if scope["type"] == "http" and self.stalls > 0:
            self.stalls -= 1
            await asyncio.sleep(self.delay_s)
        if scope["type"] == "http" and self.failures > 0:
            self.failures -= 1
            while (await receive()).get("more_body"):
                pass  # read the request body, as a real server does
            headers = [(b"content-type", b"application/json")]
            await send(
                {"type": "http.response.start", "status": self.failure_status, "headers": headers}
            )
            await send({"type": "http.response.body", "body": b'{"error": "busy"}'})
            return
        await self.app(scope, receive, send)


class HttpxFetcher:
    """A tiny LicenseFetcher on httpx, as the player builds one on the transport client."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client
        self.calls = 0

    async def __call__(self, request: LicenseRequest) -> LicenseResponse:
        self.calls += 1
        started = time.monotonic()
        reply = await self.client.post(
            request.url, content=request.body, headers=dict(request.headers)
        )
        return LicenseResponse(
            reply.status_code, reply.content, dict(reply.headers), time.monotonic() - started
        )


@pytest.fixture(scope="module")
def ca() -> Any:
    with TestCA() as authority:
        yield authority


class CountingFetcher:
    """The production fetcher, counting its calls."""

    def __init__(self, client: HttpClient) -> None:
        self.inner = TransportLicenseFetcher(client)
        self.calls = 0

    async def __call__(self, request: LicenseRequest) -> LicenseResponse:
        self.calls += 1
        return await self.inner(request)


FAST_RETRY = RetryConfig(max_attempts=2, base_delay_s=0.01, max_delay_s=0.02, jitter=0.0)


@pytest.fixture
async def served(
    ca: TestCA,
) -> AsyncIterator[tuple[str, LicenseServerApp, CountingFetcher, SlowFirst]]:
    app = LicenseServerApp(
        {KID: KEY, KID2: KEY2},
        {"good": {KID, KID2}, "video-only": {KID}},
        config=LicenseServerConfig(max_body_bytes=2048),
    )
    wrapper = SlowFirst(app, stalls=0, delay_s=0.0)
    config = TransportConfig(ca_file=str(ca.ca_file), retry=FAST_RETRY)
    async with LabServer(wrapper, ca=ca, http3=False) as server:
        async with HttpClient(config) as client:
            yield f"{server.base_url}/license", app, CountingFetcher(client), wrapper


@pytest.fixture
async def raw_post(ca: TestCA) -> AsyncIterator[HttpxFetcher]:
    """An httpx fetcher to send what the production one never sends (malformed bodies)."""
    context = ssl.create_default_context(cafile=str(ca.ca_file))
    async with httpx.AsyncClient(verify=context) as client:
        yield HttpxFetcher(client)


def _manager(token: str, fetcher: LicenseFetcher, **extra: Any) -> KeyManager:
    config = DrmConfig(license_headers={"Authorization": f"Bearer {token}"}, **extra)
    return KeyManager(config, fetcher=fetcher)


async def test_good_token_gets_keys_then_cache_answers(served: Any) -> None:
    url, app, fetcher, _ = served
    manager = _manager("good", fetcher)
    first = await manager.acquire([KID, KID2], license_url=url)
    assert {k: v.key.hex() for k, v in first.keys.items()} == {KID: KEY, KID2: KEY2}
    assert first.latency_s is not None and 0 < first.latency_s < 5
    assert (fetcher.calls, app.requests_served) == (1, 1)
    again = await manager.acquire([KID2], license_url=url)
    assert again.keys[KID2].key.hex() == KEY2
    assert (again.fetched, fetcher.calls, app.requests_served) == ((), 1, 1)


async def test_wrong_token_is_401(served: Any) -> None:
    url, _, fetcher, _ = served
    with pytest.raises(LicenseError) as info:
        await _manager("stolen", fetcher).acquire([KID], license_url=url)
    assert info.value.status == 401
    assert fetcher.calls == 1


async def test_entitlement_and_unknown_kid_are_403(served: Any) -> None:
    url, _, fetcher, _ = served
    with pytest.raises(LicenseError) as info:
        await _manager("video-only", fetcher).acquire([KID2], license_url=url)
    assert info.value.status == 403
    with pytest.raises(LicenseError) as info:
        await _manager("good", fetcher).acquire(["00" * 16], license_url=url)
    assert info.value.status == 403


async def test_malformed_and_huge_bodies_are_refused_by_the_server(
    served: Any, raw_post: HttpxFetcher
) -> None:
    url, _, _, _ = served
    fetcher = raw_post
    headers = {"Authorization": "Bearer good", "Content-Type": "application/json"}
    bad = await fetcher(LicenseRequest(url, headers, b'{"kids": [', (KID,)))
    assert bad.status == 400 and b"bad_request" in bad.body
    huge = await fetcher(LicenseRequest(url, headers, b" " * 1_000_000, (KID,)))
    assert huge.status == 413 and b"too_large" in huge.body


async def test_stalled_server_is_retried(served: Any) -> None:
    url, app, fetcher, wrapper = served
    wrapper.stalls, wrapper.delay_s = 1, 3.0
    manager = _manager("good", fetcher, license_timeout_s=1.0, license_retry_delay_s=0.0)
    got = await manager.acquire([KID], license_url=url)
    assert got.keys[KID].key.hex() == KEY
    assert (got.attempts, fetcher.calls) == (2, 2)


async def test_no_fetcher_and_no_config_key_names_the_kid(served: Any) -> None:
    url, *_ = served
    with pytest.raises(KeyNotFound) as info:
        await KeyManager(DrmConfig()).acquire([KID2], license_url=url)
    assert info.value.key_id == KID2


async def test_5xx_after_transport_retries_reaches_the_core_as_its_status(served: Any) -> None:
    """The transport retries the 503 and raises AllEdgesFailed; the status must survive."""
    url, app, fetcher, wrapper = served
    wrapper.failures = 100
    manager = _manager("good", fetcher, license_attempts=2, license_retry_delay_s=0.0)
    with pytest.raises(LicenseError) as info:
        await manager.acquire([KID], license_url=url)
    assert info.value.status == 503
    assert "answered HTTP 503" in str(info.value)
    assert fetcher.calls == 2  # KeyManager retried the 5xx once
    assert wrapper.requests == 2 * FAST_RETRY.max_attempts  # each call: transport retries
    assert app.requests_served == 0


async def test_transient_5xx_is_ridden_out(served: Any) -> None:
    url, app, fetcher, wrapper = served
    wrapper.failures = FAST_RETRY.max_attempts  # the first fetcher call fails throughout
    manager = _manager("good", fetcher, license_retry_delay_s=0.0)
    got = await manager.acquire([KID2], license_url=url)
    assert got.keys[KID2].key.hex() == KEY2
    assert (got.attempts, fetcher.calls, app.requests_served) == (2, 2, 1)


async def test_all_edges_failed_without_a_status_is_raised_by_the_fetcher(ca: TestCA) -> None:
    """A server that is down: no HTTP status anywhere, so the fetcher raises (network)."""
    async with LabServer(LicenseServerApp({}, {}), ca=ca, http3=False) as server:
        url = f"{server.base_url}/license"
    config = TransportConfig(ca_file=str(ca.ca_file), retry=FAST_RETRY)
    async with HttpClient(config) as client:
        request = LicenseRequest(url, {"Content-Type": "application/json"}, b"{}", (KID,))
        with pytest.raises(AllEdgesFailed) as failed:
            await TransportLicenseFetcher(client)(request)
        assert all(getattr(a, "status", None) is None for a in failed.value.attempts)
        manager = _manager("good", TransportLicenseFetcher(client), license_retry_delay_s=0.0)
        with pytest.raises(LicenseError) as info:
            await manager.acquire([KID], license_url=url)
    assert info.value.status is None
    assert "failed: AllEdgesFailed" in str(info.value)


async def test_over_http3_too(ca: TestCA) -> None:
    """The same production path with the transport's HTTP/3 client against an h3 lab server."""
    app = LicenseServerApp({KID2: KEY2}, {"good": {KID2}})
    config = TransportConfig(ca_file=str(ca.ca_file), protocol="h3", retry=FAST_RETRY)
    async with LabServer(app, ca=ca, http3=True) as server:
        async with HttpClient(config) as client:
            fetcher = TransportLicenseFetcher(client)
            url = f"{server.base_url}/license"
            got = await _manager("good", fetcher).acquire([KID2], license_url=url)
            assert got.keys[KID2].key.hex() == KEY2
            assert got.latency_s is not None and got.latency_s > 0
            with pytest.raises(LicenseError) as info:
                await _manager("nope", fetcher).acquire([KID2], license_url=url)
            assert info.value.status == 401
    assert app.requests_served == 2  # the 401 is answered by the app too
