"""Persistent ClearKey licenses (EME ``persistent-license``): the core, the lab server, HTTPS.

The request is ClearKey JSON with ``"type":"persistent-license"``; the lab's server answers it
only for a token whose ``LicensePolicy`` allows offline rights, with the license's type and an
``expiration`` (milliseconds since the epoch, EME's ``MediaKeySession.expiration``). The
exchange runs through the production fetcher (``TransportLicenseFetcher`` over
``transport.HttpClient``) against the lab server on loopback; the server's clock is injected so
expiries are exact.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from drm import (
    DrmConfig,
    DrmConfigError,
    KeyManager,
    LicenseError,
    LicenseExchange,
    LicenseExpired,
    LicensePolicy,
    LicenseResponse,
    LicenseServerApp,
    PersistentLicense,
    SessionType,
    b64url_encode,
    build_clearkey_request,
    parse_persistent_license,
)
from player._protection import TransportLicenseFetcher
from transport import HttpClient, TransportConfig
from transport.lab import LabServer, TestCA

KID = "31323334353637383930313233343536"
KEY = "32333435363738393021323334353637"
NOW = 1_750_000_000.0


def _license(extra: dict[str, Any]) -> bytes:
    entry = {"kty": "oct", "kid": b64url_encode(bytes.fromhex(KID)), "k": b64url_encode(bytes(16))}
    return json.dumps({"keys": [entry], **extra}).encode()


def test_request_names_the_session_type() -> None:
    body = json.loads(build_clearkey_request([KID], session_type=SessionType.PERSISTENT_LICENSE))
    assert body == {"kids": ["MTIzNDU2Nzg5MDEyMzQ1Ng"], "type": "persistent-license"}
    exchange = LicenseExchange(
        [KID], url="https://lic.example/", session_type=SessionType.PERSISTENT_LICENSE
    )
    assert json.loads(exchange.build_request().body)["type"] == "persistent-license"


def test_expiration_is_read_in_milliseconds_and_checked() -> None:
    found = parse_persistent_license(
        _license({"type": "persistent-license", "expiration": 1_000_500}), requested=[KID]
    )
    assert found.expires_at_s == 1000.5
    assert list(found.keys) == [KID]
    found.check(now=1000.0)
    assert not found.is_expired(now=1000.4) and found.is_expired(now=1000.5)
    with pytest.raises(LicenseExpired) as info:
        found.check(now=1000.5)
    assert info.value.expired_at_s == 1000.5 and info.value.code == "drm.license_expired"
    assert "00000000" not in repr(found)  # keys are never shown
    never = parse_persistent_license(_license({"type": "persistent-license"}), requested=[KID])
    assert never.expires_at_s is None and not never.is_expired(now=1e12)


@pytest.mark.parametrize(
    ("extra", "says"),
    [
        ({"type": "temporary"}, "'temporary' license for a persistent-license request"),
        ({}, "'temporary' license"),
        ({"type": "persistent-license", "expiration": "soon"}, "expiration"),
        ({"type": "persistent-license", "expiration": -1}, "expiration"),
        ({"type": "persistent-license", "expiration": True}, "expiration"),
    ],
)
def test_a_license_that_is_not_persistent_or_has_a_bad_expiry_is_refused(
    extra: dict[str, Any], says: str
) -> None:
    with pytest.raises(LicenseError, match=says):
        parse_persistent_license(_license(extra), requested=[KID])


def test_policy_is_validated() -> None:
    with pytest.raises(DrmConfigError):
        LicensePolicy(allow_persistent=True, persistent_duration_s=0)
    assert LicensePolicy().allow_persistent is False


@pytest.fixture(scope="module")
def ca() -> Any:
    with TestCA() as authority:
        yield authority


@pytest.fixture
async def served(ca: TestCA) -> AsyncIterator[tuple[str, TransportLicenseFetcher]]:
    app = LicenseServerApp(
        {KID: KEY},
        {"offline": {KID}, "online-only": {KID}, "forever": {KID}},
        policies={
            "offline": LicensePolicy(allow_persistent=True, persistent_duration_s=3600.0),
            "forever": LicensePolicy(allow_persistent=True, persistent_duration_s=None),
        },
        wall=lambda: NOW,
    )
    async with LabServer(app, ca=ca, http3=False) as server:
        async with HttpClient(TransportConfig(ca_file=str(ca.ca_file))) as client:
            yield f"{server.base_url}/license", TransportLicenseFetcher(client)


def _manager(token: str, fetcher: TransportLicenseFetcher) -> KeyManager:
    return KeyManager(
        DrmConfig(license_headers={"Authorization": f"Bearer {token}"}), fetcher=fetcher
    )


async def test_entitled_token_gets_a_persistent_license_with_the_stated_expiry(
    served: Any,
) -> None:
    url, fetcher = served
    found = await _manager("offline", fetcher).acquire_persistent([KID], license_url=url)
    assert isinstance(found, PersistentLicense)
    assert {kid: key.key.hex() for kid, key in found.keys.items()} == {KID: KEY}
    assert found.expires_at_s == NOW + 3600.0
    with pytest.raises(LicenseExpired):
        found.check(now=NOW + 3600.0)
    forever = await _manager("forever", fetcher).acquire_persistent([KID], license_url=url)
    assert forever.expires_at_s is None


async def test_token_without_offline_rights_is_refused_with_403(served: Any) -> None:
    url, fetcher = served
    with pytest.raises(LicenseError) as info:
        await _manager("online-only", fetcher).acquire_persistent([KID], license_url=url)
    assert info.value.status == 403
    assert "(persistent-license)" in str(info.value)
    # the same token still gets temporary licenses
    keys = await _manager("online-only", fetcher).acquire([KID], license_url=url)
    assert keys.keys[KID].key.hex() == KEY


async def test_server_refuses_an_unknown_session_type(served: Any) -> None:
    url, fetcher = served
    body = json.dumps({"kids": [b64url_encode(bytes.fromhex(KID))], "type": "forever"}).encode()
    exchange = LicenseExchange([KID], url=url)
    request = exchange.build_request()
    headers = {**request.headers, "Authorization": "Bearer offline"}
    answer: LicenseResponse = await fetcher(type(request)(url, headers, body, (KID,)))
    assert answer.status == 400  # the production fetcher keeps only the status of a 4xx
