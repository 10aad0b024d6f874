"""License exchange end to end: KeyManager -> httpx fetcher -> LabServer (HTTPS) -> app."""

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
from transport import HttpClient, HttpStatusError, TransportConfig
from transport.lab import LabServer, TestCA

KID = "31323334353637383930313233343536"
KEY = "32333435363738393021323334353637"
KID2 = "4060a865887842679cbf91ae5bae1e72"
KEY2 = "fc35340837310cc0fb53de97e22a69e0"


class SlowFirst:
    """ASGI wrapper: the first ``stalls`` requests hang for ``delay_s`` (a stalled server)."""

    def __init__(self, app: LicenseServerApp, *, stalls: int, delay_s: float) -> None:
        self.app, self.stalls, self.delay_s = app, stalls, delay_s

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and self.stalls > 0:
            self.stalls -= 1
            await asyncio.sleep(self.delay_s)
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


@pytest.fixture
async def served(
    ca: TestCA,
) -> AsyncIterator[tuple[str, LicenseServerApp, HttpxFetcher, SlowFirst]]:
    app = LicenseServerApp(
        {KID: KEY, KID2: KEY2},
        {"good": {KID, KID2}, "video-only": {KID}},
        config=LicenseServerConfig(max_body_bytes=2048),
    )
    wrapper = SlowFirst(app, stalls=0, delay_s=0.0)
    context = ssl.create_default_context(cafile=str(ca.ca_file))
    async with LabServer(wrapper, ca=ca, http3=False) as server:
        async with httpx.AsyncClient(verify=context) as client:
            yield f"{server.base_url}/license", app, HttpxFetcher(client), wrapper


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


async def test_malformed_and_huge_bodies_are_refused_by_the_server(served: Any) -> None:
    url, _, fetcher, _ = served
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


class TransportFetcher:
    """The fetcher the player builds: the transport's HttpClient (HTTP/3 or HTTP/1.1-2)."""

    def __init__(self, client: HttpClient) -> None:
        self.client = client

    async def __call__(self, request: LicenseRequest) -> LicenseResponse:
        try:
            reply = await self.client.fetch(
                request.url, method="POST", headers=dict(request.headers), body=request.body
            )
        except HttpStatusError as exc:
            return LicenseResponse(exc.status, b"")
        return LicenseResponse(reply.status, reply.content, reply.headers, reply.sample.duration_s)


async def test_with_the_transport_http_client(served: Any, ca: TestCA) -> None:
    url, app, _, _ = served
    async with HttpClient(TransportConfig(ca_file=str(ca.ca_file))) as client:
        fetcher = TransportFetcher(client)
        got = await _manager("good", fetcher).acquire([KID2], license_url=url)
        assert got.keys[KID2].key.hex() == KEY2
        with pytest.raises(LicenseError) as info:
            await _manager("nope", fetcher).acquire([KID], license_url=url)
        assert info.value.status == 401
    assert app.requests_served == 2
