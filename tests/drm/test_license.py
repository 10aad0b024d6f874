"""The ClearKey license core, the key cache and the license server app (direct ASGI calls)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from drm import (
    ContentKey,
    DrmConfig,
    KeyManager,
    KeyNotFound,
    LicenseCache,
    LicenseError,
    LicenseExchange,
    LicenseRequest,
    LicenseResponse,
    LicenseServerApp,
    LicenseServerConfig,
    b64url_encode,
    parse_clearkey_response,
)

KID = "31323334353637383930313233343536"
KEY = "32333435363738393021323334353637"
KID_B64 = "MTIzNDU2Nzg5MDEyMzQ1Ng"
KEY_B64 = "MjM0NTY3ODkwITIzNDU2Nw"
KID2 = "4060a865887842679cbf91ae5bae1e72"
KEY2 = "fc35340837310cc0fb53de97e22a69e0"


def _body(*entries: dict[str, Any], extra: dict[str, Any] | None = None) -> bytes:
    return json.dumps({"keys": list(entries), "type": "temporary", **(extra or {})}).encode()


def test_request_is_w3c_clearkey_json_with_configured_headers() -> None:
    config = DrmConfig(license_headers={"Authorization": "Bearer t0k"})
    exchange = LicenseExchange([KID2, KID, KID], url="https://lic.example/ck", config=config)
    request = exchange.build_request()
    assert json.loads(request.body) == {
        "kids": [KID_B64, b64url_encode(bytes.fromhex(KID2))],
        "type": "temporary",
    }
    assert request.headers["Authorization"] == "Bearer t0k"
    assert request.headers["Content-Type"] == "application/json"
    assert "t0k" not in repr(request)
    assert request.key_ids == (KID, KID2)


def test_config_license_url_overrides_manifest() -> None:
    config = DrmConfig(license_url="https://override.example/")
    assert LicenseExchange([KID], url="https://manifest.example/", config=config).url == (
        "https://override.example/"
    )


def test_response_keys_parsed_with_expiry() -> None:
    exchange = LicenseExchange([KID], url="https://lic.example/")
    body = _body({"kty": "oct", "kid": KID_B64, "k": KEY_B64})
    keys = exchange.receive_response(LicenseResponse(200, body), now=100.0)
    assert list(keys) == [KID]
    assert keys[KID].key == bytes.fromhex(KEY)
    assert keys[KID].expires_at == 100.0 + DrmConfig().license_ttl_s
    assert KEY not in repr(keys) and KEY_B64 not in repr(keys)


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (b"not json", "not JSON"),
        (b"[]", "no 'keys'"),
        (_body({"kty": "oct", "kid": KID_B64 + "==", "k": KEY_B64}), "kid"),
        (_body({"kty": "oct", "kid": KID_B64, "k": KEY_B64 + "=="}), "k for KID"),
        (_body({"kty": "oct", "kid": KID_B64, "k": "MjM0NTY3ODkwITIzNDU2"}), "k for KID"),
        (_body({"kty": "oct", "kid": KID_B64, "k": "MjM0NTY3ODkwITIzNDU2Nx"}), "canonical"),
        (_body({"kty": "RSA", "kid": KID_B64, "k": KEY_B64}), "kty"),
        (_body({"kty": "oct", "kid": b64url_encode(bytes(16)), "k": KEY_B64}), "not requested"),
        (_body({"kty": "oct", "kid": KID_B64, "k": KEY_B64}, extra={"type": 3}), "type"),
        (_body(*[{"kty": "oct", "kid": KID_B64, "k": KEY_B64}] * 2), "more keys"),
        (b"[" * 5000, "not JSON"),
    ],
    ids=lambda value: str(value)[:20] if isinstance(value, str) else None,
)
def test_malformed_responses_raise_license_error_without_key(body: bytes, fragment: str) -> None:
    exchange = LicenseExchange([KID], url="https://lic.example/")
    with pytest.raises(LicenseError) as info:
        exchange.receive_response(LicenseResponse(200, body), now=0.0)
    assert fragment in str(info.value)
    assert info.value.status == 200
    assert KEY_B64 not in str(info.value)


def test_http_error_status_is_kept() -> None:
    exchange = LicenseExchange([KID], url="https://lic.example/")
    with pytest.raises(LicenseError) as info:
        exchange.receive_response(LicenseResponse(403, b'{"error":"not_entitled"}'), now=0.0)
    assert info.value.status == 403
    assert exchange.status == 403


def test_oversized_response_is_refused() -> None:
    body = b" " * 100 + _body({"kty": "oct", "kid": KID_B64, "k": KEY_B64})
    with pytest.raises(LicenseError, match="exceeds 50"):
        parse_clearkey_response(body, requested=[KID], max_bytes=50)


def test_exchange_rejects_bad_setup() -> None:
    with pytest.raises(LicenseError):
        LicenseExchange([], url="https://lic.example/")
    with pytest.raises(LicenseError):
        LicenseExchange([KID], url="ftp://lic.example/")
    with pytest.raises(LicenseError):
        LicenseExchange([f"{i:032x}" for i in range(65)], url="https://lic.example/")


def test_cache_expires_keys_at_now() -> None:
    cache = LicenseCache()
    cache.put([ContentKey(KID, bytes.fromhex(KEY), expires_at=50.0), ContentKey(KID2, bytes(16))])
    assert cache.missing([KID, KID2], now=49.9) == ()
    assert cache.get(KID, now=50.0) is None
    assert cache.missing([KID, KID2], now=1e9) == (KID,)
    assert len(cache) == 1


class CountingFetcher:
    """An in-process fetcher that answers from a LicenseServerApp through ASGI calls."""

    def __init__(self, app: LicenseServerApp) -> None:
        self.app = app
        self.requests: list[LicenseRequest] = []

    async def __call__(self, request: LicenseRequest) -> LicenseResponse:
        self.requests.append(request)
        status, body = await asgi_post(self.app, request.body, dict(request.headers))
        return LicenseResponse(status, body)


async def asgi_post(
    app: LicenseServerApp, body: bytes, headers: dict[str, str], method: str = "POST"
) -> tuple[int, bytes]:
    sent: list[dict[str, Any]] = []
    chunks = [body[i : i + 4096] for i in range(0, len(body), 4096)] or [b""]

    async def receive() -> dict[str, Any]:
        chunk = chunks.pop(0)
        return {"type": "http.request", "body": chunk, "more_body": bool(chunks)}

    async def send(message: dict[str, Any]) -> None:
        sent.append(dict(message))

    scope = {
        "type": "http",
        "method": method,
        "path": "/license",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
    }
    await app(scope, receive, send)
    assert sent[0]["type"] == "http.response.start"
    return int(sent[0]["status"]), b"".join(m.get("body", b"") for m in sent[1:])


def _server() -> LicenseServerApp:
    return LicenseServerApp(
        {KID: KEY, KID2: KEY2},
        {"good": {KID, KID2}, "video-only": {KID}, "admin": {"*"}},
        config=LicenseServerConfig(max_body_bytes=1024),
    )


@pytest.mark.parametrize(
    ("headers", "body", "method", "status", "error"),
    [
        ({"Authorization": "Bearer good"}, {"kids": [KID_B64]}, "POST", 200, None),
        ({"Authorization": "Bearer admin"}, {"kids": [KID_B64]}, "POST", 200, None),
        ({}, {"kids": [KID_B64]}, "POST", 401, "unauthorized"),
        ({"Authorization": "Bearer nope"}, {"kids": [KID_B64]}, "POST", 401, "unauthorized"),
        ({"Authorization": "Basic good"}, {"kids": [KID_B64]}, "POST", 401, "unauthorized"),
        (
            {"Authorization": "Bearer video-only"},
            {"kids": [b64url_encode(bytes.fromhex(KID2))]},
            "POST",
            403,
            "not_entitled",
        ),
        (
            {"Authorization": "Bearer admin"},
            {"kids": [b64url_encode(bytes(16))]},
            "POST",
            403,
            "not_entitled",
        ),
        ({"Authorization": "Bearer good"}, {"kids": []}, "POST", 400, "bad_request"),
        ({"Authorization": "Bearer good"}, {"kids": ["MTIz"]}, "POST", 400, "bad_request"),
        ({"Authorization": "Bearer good"}, {"kids": [KID_B64]}, "GET", 405, "method_not_allowed"),
        ({"Authorization": "Bearer good"}, {"kids": [KID_B64] * 5000}, "POST", 413, "too_large"),
    ],
)
async def test_server_answers(
    headers: dict[str, str], body: dict[str, Any], method: str, status: int, error: str | None
) -> None:
    app = _server()
    got_status, got_body = await asgi_post(app, json.dumps(body).encode(), headers, method)
    doc = json.loads(got_body)
    assert got_status == status
    if error is None:
        assert doc == {"keys": [{"kty": "oct", "kid": KID_B64, "k": KEY_B64}], "type": "temporary"}
    else:
        assert doc["error"] == error
        assert KEY_B64 not in got_body.decode()


async def test_server_rejects_malformed_json() -> None:
    status, body = await asgi_post(_server(), b"{kids:", {"Authorization": "Bearer good"})
    assert (status, json.loads(body)["error"]) == (400, "bad_request")


async def test_manager_fetches_once_then_uses_cache() -> None:
    fetcher = CountingFetcher(_server())
    clock = [0.0]
    config = DrmConfig(license_headers={"Authorization": "Bearer good"}, license_ttl_s=60.0)
    manager = KeyManager(config, fetcher=fetcher, clock=lambda: clock[0])
    first = await manager.acquire([KID, KID2], license_url="https://lic.example/")
    assert first.fetched == (KID, KID2)
    assert first.attempts == 1
    assert first.keys[KID2].key == bytes.fromhex(KEY2)
    assert len(fetcher.requests) == 1 and fetcher.requests[0].key_ids == (KID, KID2)
    second = await manager.acquire([KID], license_url="https://lic.example/")
    assert (second.fetched, second.latency_s, len(fetcher.requests)) == ((), None, 1)
    clock[0] = 61.0
    third = await manager.acquire([KID2], license_url="https://lic.example/")
    assert third.fetched == (KID2,) and len(fetcher.requests) == 2
    assert len(manager.latencies_s) == 2


async def test_manager_keys_from_config_need_no_server() -> None:
    manager = KeyManager(DrmConfig(keys={KID: KEY}))
    got = await manager.acquire([KID])
    assert got.keys[KID].key == bytes.fromhex(KEY)
    with pytest.raises(KeyNotFound) as info:
        await manager.acquire([KID2])
    assert info.value.key_id == KID2


async def test_manager_forbidden_is_final() -> None:
    fetcher = CountingFetcher(_server())
    config = DrmConfig(license_headers={"Authorization": "Bearer video-only"})
    manager = KeyManager(config, fetcher=fetcher)
    with pytest.raises(LicenseError) as info:
        await manager.acquire([KID2], license_url="https://lic.example/")
    assert info.value.status == 403
    assert len(fetcher.requests) == 1


async def test_manager_retries_server_errors_then_gives_up() -> None:
    calls: list[float] = []
    delays: list[float] = []

    async def failing(request: LicenseRequest) -> LicenseResponse:
        calls.append(1)
        return LicenseResponse(503, b"busy")

    async def no_sleep(delay: float) -> None:
        delays.append(delay)

    config = DrmConfig(license_attempts=3, license_retry_delay_s=0.25)
    manager = KeyManager(config, fetcher=failing, sleep=no_sleep)
    with pytest.raises(LicenseError) as info:
        await manager.acquire([KID], license_url="https://lic.example/")
    assert (info.value.status, len(calls), delays) == (503, 3, [0.25, 0.5])


async def test_server_entitlement_rule_object() -> None:
    seen: list[tuple[str, str]] = []

    def rule(token: str, kid: str) -> bool:
        seen.append((token, kid))
        return kid != KID2

    app = LicenseServerApp({KID: KEY, KID2: KEY2}, {"all": {"*"}}, entitlement=rule)
    ok, _ = await asgi_post(
        app, json.dumps({"kids": [KID_B64]}).encode(), {"Authorization": "Bearer all"}
    )
    kid2 = b64url_encode(bytes.fromhex(KID2))
    denied, body = await asgi_post(
        app, json.dumps({"kids": [kid2]}).encode(), {"Authorization": "Bearer all"}
    )
    assert (ok, denied, json.loads(body)["error"]) == (200, 403, "not_entitled")
    assert seen == [("all", KID), ("all", KID2)]


async def test_concurrent_acquisitions_share_one_request() -> None:
    fetcher = CountingFetcher(_server())
    config = DrmConfig(license_headers={"Authorization": "Bearer good"})
    manager = KeyManager(config, fetcher=fetcher)
    first, second = await asyncio.gather(
        manager.acquire([KID, KID2], license_url="https://lic.example/"),
        manager.acquire([KID2], license_url="https://lic.example/"),
    )
    assert len(fetcher.requests) == 1
    assert first.keys[KID2].key == second.keys[KID2].key == bytes.fromhex(KEY2)
    assert (first.fetched, second.fetched) == ((KID, KID2), ())


async def test_partial_licences_leave_out_the_kids_a_token_may_not_have() -> None:
    app = LicenseServerApp(
        {KID: KEY, KID2: KEY2},
        {"video-only": {KID}},
        config=LicenseServerConfig(partial_licenses=True),
    )
    kid2_b64 = b64url_encode(bytes.fromhex(KID2))
    auth = {"Authorization": "Bearer video-only"}
    status, body = await asgi_post(app, json.dumps({"kids": [KID_B64, kid2_b64]}).encode(), auth)
    assert status == 200
    assert json.loads(body)["keys"] == [{"kty": "oct", "kid": KID_B64, "k": KEY_B64}]
    status, body = await asgi_post(app, json.dumps({"kids": [kid2_b64]}).encode(), auth)
    assert (status, json.loads(body)["error"]) == (403, "not_entitled")  # nothing granted

    config = DrmConfig(license_headers=auth)
    partial = KeyManager(config, fetcher=CountingFetcher(app))
    got = await partial.acquire([KID, KID2], license_url="https://lic.example/", partial=True)
    assert (set(got.keys), got.withheld, got.fetched) == ({KID}, (KID2,), (KID, KID2))
    strict = KeyManager(config, fetcher=CountingFetcher(app))
    with pytest.raises(KeyNotFound) as info:
        await strict.acquire([KID, KID2], license_url="https://lic.example/")
    assert info.value.key_id == KID2
