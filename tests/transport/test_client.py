"""HttpClient, H3Client and H1Client against the real lab CDN on loopback."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
from collections.abc import Iterator

import numpy as np
import pytest

from transport import (
    AllEdgesFailed,
    ConnectError,
    H1Client,
    H3Client,
    HttpClient,
    HttpStatusError,
    ResponseTooLarge,
    Timeouts,
    TlsVerificationError,
    TransportConfig,
    UnsafeUrl,
)
from transport.lab import LabCdn, LabCdnThread, MemoryContent, TestCA

PROTOCOLS = ["h3", "h2", "h1"]
BIG = 50 * 1024 * 1024


def config_for(protocol: str, ca_file: str | None, **kw: object) -> TransportConfig:
    """``h2`` and ``h1`` both use the TCP stack; ``h1`` with HTTP/2 turned off."""
    stack = "h3" if protocol == "h3" else "h1"
    # No test here is about a timeout: they are hang guards, wide enough for an in-process QUIC
    # handshake on a machine shared by many jobs (2 s was not, once).
    timeouts = Timeouts(connect_s=10.0, ttfb_s=10.0, stall_s=10.0, total_s=30.0)
    return TransportConfig(
        protocol=stack,  # type: ignore[arg-type]
        ca_file=ca_file,
        is_http2_enabled=protocol != "h1",
        timeouts=timeouts,
        **kw,  # type: ignore[arg-type]
    )


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture(scope="module")
def big_lab(lab_ca: TestCA) -> Iterator[tuple[LabCdnThread, bytes]]:
    """An origin serving a 50 MB body generated at test time."""
    payload = np.random.default_rng(5).bytes(BIG)
    handle = LabCdn(MemoryContent({"/big50.bin": payload}), edges=0, ca=lab_ca).start_in_thread()
    try:
        yield handle, payload
    finally:
        handle.stop()


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize("path", ["/small.bin", "/big.bin", "/video/index.m3u8"])
async def test_download_is_byte_exact(
    lab: LabCdnThread, lab_payloads: dict[str, bytes], protocol: str, path: str
) -> None:
    async with HttpClient(config_for(protocol, lab.ca_file)) as client:
        response = await client.fetch(lab.edges[0].base_url + path)
    assert sha(response.content) == sha(lab_payloads[path])
    assert response.status == 200
    assert response.protocol == protocol
    assert response.edge == lab.edges[0].base_url
    assert response.headers["content-length"] == str(len(lab_payloads[path]))
    assert response.sample.nbytes == len(lab_payloads[path])
    assert response.sample.protocol == protocol
    assert 0 < response.sample.ttfb_s <= response.sample.duration_s < 5.0


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize("byte_range", [(0, 0), (1000, 1999), (1_999_000, 1_999_999)])
async def test_byte_ranges(
    lab: LabCdnThread,
    lab_payloads: dict[str, bytes],
    protocol: str,
    byte_range: tuple[int, int],
) -> None:
    async with HttpClient(config_for(protocol, lab.ca_file)) as client:
        response = await client.fetch(lab.edges[0].base_url + "/big.bin", byte_range=byte_range)
    first, last = byte_range
    assert response.status == 206
    assert response.content == lab_payloads["/big.bin"][first : last + 1]
    assert response.headers["content-range"] == f"bytes {first}-{last}/2000000"


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_fifty_megabytes_byte_exact(
    big_lab: tuple[LabCdnThread, bytes], protocol: str
) -> None:
    handle, payload = big_lab
    async with HttpClient(config_for(protocol, handle.ca_file)) as client:
        response = await client.fetch(handle.origin.base_url + "/big50.bin")
    assert len(response.content) == BIG
    assert sha(response.content) == sha(payload)
    assert response.protocol == protocol


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_stream_yields_the_body_in_bounded_chunks(
    lab: LabCdnThread, lab_payloads: dict[str, bytes], protocol: str
) -> None:
    cfg = config_for(protocol, lab.ca_file, stream_buffer_bytes=64 * 1024)
    chunks: list[bytes] = []
    async with HttpClient(cfg) as client:
        async with client.stream(lab.edges[0].base_url + "/big.bin") as response:
            assert response.status == 200
            async for chunk in response:
                chunks.append(chunk)
            sample = response.sample
    assert b"".join(chunks) == lab_payloads["/big.bin"]
    assert len(chunks) > 1
    assert max(len(c) for c in chunks) <= 1024 * 1024
    assert sample.nbytes == 2_000_000


async def test_h3_buffer_is_bounded_when_the_reader_is_slow(
    lab: LabCdnThread, lab_payloads: dict[str, bytes]
) -> None:
    limit = 64 * 1024
    cfg = config_for("h3", lab.ca_file, stream_buffer_bytes=limit)
    async with H3Client(cfg) as client:
        async with client.stream(lab.edges[0].base_url + "/big.bin") as response:
            await asyncio.sleep(0.5)  # the reader does not read: the buffer must not grow
            conn = client.connections[lab.edges[0].base_url]
            buffered = max(s.buffered for s in conn.streams.values())
            body = await response.read()
    # one receive batch may overshoot the bound; 2 MB would arrive without backpressure
    assert limit < buffered < 500_000
    assert body == lab_payloads["/big.bin"]


async def test_hundred_concurrent_requests_share_one_quic_connection(
    lab: LabCdnThread, lab_payloads: dict[str, bytes]
) -> None:
    paths = ["/small.bin", "/medium.bin", "/video/seg-1.m4s"] * 34
    async with H3Client(config_for("h3", lab.ca_file)) as client:
        responses = await asyncio.gather(
            *(client.fetch(lab.edges[0].base_url + p) for p in paths[:100])
        )
        conns = client.connections
    assert len(conns) == 1
    assert [r.content for r in responses] == [lab_payloads[p] for p in paths[:100]]
    assert {r.protocol for r in responses} == {"h3"}
    versions = [r.http_version for r in lab.edges[0].requests[-100:]]
    assert versions == ["3"] * 100


@pytest.mark.parametrize("client_class", [H3Client, H1Client])
@pytest.mark.parametrize(
    "url", ["file:///etc/passwd", "ftp://127.0.0.1/x", "data:,hello", "javascript:alert(1)"]
)
async def test_non_http_urls_are_refused(client_class: type[H3Client], url: str) -> None:
    async with client_class(TransportConfig()) as client:
        with pytest.raises(UnsafeUrl) as info:
            await client.fetch(url)
    assert info.value.url == url


async def test_http_client_refuses_any_unsafe_location_before_connecting(
    lab: LabCdnThread,
) -> None:
    before = len(lab.edges[0].requests)
    async with HttpClient(config_for("h3", lab.ca_file)) as client:
        with pytest.raises(UnsafeUrl):
            await client.fetch([lab.edges[0].base_url + "/small.bin", "file:///etc/passwd"])
    assert len(lab.edges[0].requests) == before


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_self_signed_lab_certificate_is_rejected_without_the_ca(
    lab: LabCdnThread, lab_payloads: dict[str, bytes], protocol: str
) -> None:
    url = lab.edges[0].base_url + "/small.bin"
    single = H3Client if protocol == "h3" else H1Client
    async with single(config_for(protocol, None)) as client:  # type: ignore[abstract]
        with pytest.raises(ConnectError) as info:
            await client.fetch(url)
    assert info.value.url == url
    # the same request succeeds once the lab CA is passed explicitly
    async with single(config_for(protocol, lab.ca_file)) as client:  # type: ignore[abstract]
        response = await client.fetch(url)
    assert response.content == lab_payloads["/small.bin"]
    assert lab.edges[0].requests[-1].status == 200


async def test_unverified_tls_must_be_asked_for(lab: LabCdnThread) -> None:
    cfg = dataclasses.replace(config_for("h3", None), verify_tls=False)
    async with H3Client(cfg) as client:
        response = await client.fetch(lab.edges[0].base_url + "/small.bin")
    assert response.status == 200
    assert TransportConfig().verify_tls is True


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_body_larger_than_the_bound_is_refused(lab: LabCdnThread, protocol: str) -> None:
    cfg = config_for(protocol, lab.ca_file, max_response_bytes=50_000)
    before = len(lab.origin.requests)
    urls = [lab.edges[0].base_url + "/big.bin", lab.origin.base_url + "/big.bin"]
    async with HttpClient(cfg) as client:
        with pytest.raises(ResponseTooLarge):
            await client.fetch(urls)
    # not an edge failure: no failover to the origin
    assert len(lab.origin.requests) == before


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_post_body_reaches_the_server(lab: LabCdnThread, protocol: str) -> None:
    async with HttpClient(config_for(protocol, lab.ca_file)) as client:
        with pytest.raises(HttpStatusError) as info:
            await client.fetch(lab.edges[0].base_url + "/small.bin", method="POST", body=b"x" * 10)
    assert info.value.status == 405
    assert lab.edges[0].requests[-1].method == "POST"


async def test_all_edges_failed_lists_every_attempt(lab: LabCdnThread) -> None:
    cfg = config_for("h3", None)  # no CA: every edge fails its TLS handshake
    retry = dataclasses.replace(cfg.retry, max_attempts=3, base_delay_s=0.05, max_delay_s=0.1)
    cfg = dataclasses.replace(cfg, retry=retry)
    urls = [lab.edges[0].base_url + "/small.bin", lab.edges[1].base_url + "/small.bin"]
    async with HttpClient(cfg, rng=np.random.default_rng(1)) as client:
        with pytest.raises(AllEdgesFailed) as info:
            await client.fetch(urls)
    # An untrusted certificate is never retried on the same edge: one attempt per edge.
    assert len(info.value.attempts) == 2
    assert all(isinstance(a, TlsVerificationError) for a in info.value.attempts)
    assert all(isinstance(a, ConnectError) for a in info.value.attempts)
    assert [a.url for a in info.value.attempts] == urls


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_head_request_has_no_body_and_is_not_truncated(
    lab: LabCdnThread, protocol: str
) -> None:
    async with HttpClient(config_for(protocol, lab.ca_file)) as client:
        response = await client.fetch(lab.edges[0].base_url + "/big.bin", method="HEAD")
    assert response.status == 200
    assert response.content == b""
    assert response.headers["content-length"] == "2000000"
    assert lab.edges[0].requests[-1].method == "HEAD"
