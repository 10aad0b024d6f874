"""Fixtures of the interoperability suite (helpers in ``foreign.py``).

Fixtures (all session-scoped: the clip, every packaged case and every server are made once
per test run, in one temporary root):
    clip: the clear source (``foreign.Clip``) with its reference picture hashes.
    workshop: ``workshop.build(name, recipe) -> manifest path`` builds a case once.
    lab_server: the lab's origin (``transport.lab``: HTTPS on HTTP/1.1, 2 and 3).
    caddy_h3: Caddy with a test CA over HTTP/3 (the SDK is told ``protocol="h3"``).
    plain_http: ``python -m http.server`` (plain HTTP, ignores ``Range``).
Each yields a ``foreign.Served``: ``served.url(path)``, ``served.ca_file``.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from foreign import Clip, Served, Workshop, caddy_server, make_clip, plain_http_server

from transport.lab import LabCdn, TestCA


@pytest.fixture(scope="session")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Clip:
    return make_clip(tmp_path_factory.mktemp("interop"))


@pytest.fixture(scope="session")
def workshop(clip: Clip) -> Workshop:
    return Workshop(clip)


@pytest.fixture(scope="session")
def interop_ca(tmp_path_factory: pytest.TempPathFactory) -> TestCA:
    return TestCA(tmp_path_factory.mktemp("interop-ca"))


@pytest.fixture(scope="session")
def lab_server(clip: Clip, interop_ca: TestCA) -> Iterator[Served]:
    handle = LabCdn(clip.folder, edges=0, ca=interop_ca).start_in_thread()
    try:
        yield Served("lab", handle.origin.base_url, handle.ca_file)
    finally:
        handle.stop()


@pytest.fixture(scope="session")
def caddy_h3(clip: Clip, interop_ca: TestCA) -> Iterator[Served]:
    with caddy_server(
        clip.folder,
        cert_file=interop_ca.cert_file,
        key_file=interop_ca.key_file,
        ca_file=interop_ca.ca_file,
    ) as served:
        yield served


@pytest.fixture(scope="session")
def plain_http(clip: Clip) -> Iterator[Served]:
    with plain_http_server(clip.folder) as served:
        yield served
