"""The lab CDN app: static files with ranges, validators, CORS and path safety, on h1/h2/h3."""

from __future__ import annotations

import hashlib
import os
import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from conftest import H3Get

from transport.errors import UnsafeUrl
from transport.lab import DirectoryContent, LabCdn, LabCdnThread, MemoryContent, TestCA
from transport.lab._cdn_app import parse_range


@pytest.fixture
async def h2(lab_ca: TestCA) -> AsyncIterator[httpx.AsyncClient]:
    ctx = ssl.create_default_context(cafile=str(lab_ca.ca_file))
    async with httpx.AsyncClient(verify=ctx, http2=True, timeout=5.0) as client:
        yield client


@pytest.fixture
async def h1(lab_ca: TestCA) -> AsyncIterator[httpx.AsyncClient]:
    ctx = ssl.create_default_context(cafile=str(lab_ca.ca_file))
    async with httpx.AsyncClient(verify=ctx, http2=False, timeout=5.0) as client:
        yield client


def test_parse_range() -> None:
    assert parse_range("bytes=0-99", 1000) == (0, 99)
    assert parse_range("bytes=990-2000", 1000) == (990, 999)
    assert parse_range("bytes=900-", 1000) == (900, 999)
    assert parse_range("bytes=-100", 1000) == (900, 999)
    assert parse_range("bytes=-5000", 1000) == (0, 999)
    assert parse_range("bytes=0-1,5-6", 1000) is None
    assert parse_range("items=0-1", 1000) is None
    assert parse_range("bytes=9-3", 1000) is None
    assert parse_range("bytes=abc", 1000) is None


async def test_get_full_body_and_headers(
    lab: LabCdnThread, lab_payloads: dict[str, bytes], h2: httpx.AsyncClient
) -> None:
    edge = lab.edges[1]
    r = await h2.get(edge.base_url + "/medium.bin")
    assert r.status_code == 200 and r.http_version == "HTTP/2"
    assert r.content == lab_payloads["/medium.bin"]
    assert r.headers["content-length"] == "100000"
    assert r.headers["accept-ranges"] == "bytes"
    assert r.headers["x-lab-edge"] == "edge1"
    assert r.headers["access-control-allow-origin"] == "*"
    assert "Content-Range" in r.headers["access-control-expose-headers"]
    assert r.headers["etag"].startswith('"') and r.headers["etag"].endswith('"')
    assert r.headers["alt-svc"] == f'h3=":{edge.port}"; ma=3600'
    playlist = await h2.get(lab.origin.base_url + "/video/index.m3u8")
    assert playlist.headers["content-type"] == "application/vnd.apple.mpegurl"
    assert playlist.headers["x-lab-edge"] == "origin"
    assert edge.requests[-1].path == "/medium.bin" and edge.requests[-1].http_version == "2"


@pytest.mark.parametrize(
    ("range_header", "first", "last"),
    [("bytes=100-199", 100, 199), ("bytes=-50", 9950, 9999), ("bytes=9990-", 9990, 9999)],
)
async def test_range_requests(
    lab: LabCdnThread,
    lab_payloads: dict[str, bytes],
    h1: httpx.AsyncClient,
    range_header: str,
    first: int,
    last: int,
) -> None:
    r = await h1.get(lab.edges[0].base_url + "/small.bin", headers={"Range": range_header})
    assert r.status_code == 206
    assert r.headers["content-range"] == f"bytes {first}-{last}/10000"
    assert r.headers["content-length"] == str(last - first + 1)
    assert r.content == lab_payloads["/small.bin"][first : last + 1]


async def test_unsatisfiable_and_multi_ranges(
    lab: LabCdnThread, lab_payloads: dict[str, bytes], h2: httpx.AsyncClient
) -> None:
    url = lab.edges[0].base_url + "/small.bin"
    r = await h2.get(url, headers={"Range": "bytes=10000-"})
    assert r.status_code == 416
    assert r.headers["content-range"] == "bytes */10000"
    multi = await h2.get(url, headers={"Range": "bytes=0-1,5-6"})
    assert multi.status_code == 200 and multi.content == lab_payloads["/small.bin"]


async def test_head_conditional_and_if_range(
    lab: LabCdnThread, lab_payloads: dict[str, bytes], h2: httpx.AsyncClient
) -> None:
    url = lab.edges[0].base_url + "/small.bin"
    head = await h2.head(url)
    assert head.status_code == 200
    assert head.headers["content-length"] == "10000"
    assert head.content == b""
    etag = head.headers["etag"]
    cached = await h2.get(url, headers={"If-None-Match": etag})
    assert cached.status_code == 304 and cached.content == b""
    assert cached.headers["etag"] == etag
    stale = await h2.get(url, headers={"Range": "bytes=0-9", "If-Range": '"other"'})
    assert stale.status_code == 200 and len(stale.content) == 10000
    fresh = await h2.get(url, headers={"Range": "bytes=0-9", "If-Range": etag})
    assert fresh.status_code == 206 and fresh.content == lab_payloads["/small.bin"][:10]


async def test_cors_preflight_methods_and_missing(lab: LabCdnThread, h1: httpx.AsyncClient) -> None:
    base = lab.edges[0].base_url
    pre = await h1.options(
        base + "/small.bin", headers={"Access-Control-Request-Headers": "range, if-none-match"}
    )
    assert pre.status_code == 204
    assert pre.headers["access-control-allow-methods"] == "GET, HEAD, OPTIONS"
    assert pre.headers["access-control-allow-headers"] == "range, if-none-match"
    post = await h1.post(base + "/small.bin", content=b"x")
    assert post.status_code == 405 and post.headers["allow"] == "GET, HEAD, OPTIONS"
    missing = await h1.get(base + "/nope.bin")
    assert missing.status_code == 404


async def test_path_traversal_is_refused(
    lab: LabCdnThread, h1: httpx.AsyncClient, h3_get: H3Get
) -> None:
    base = lab.edges[0].base_url
    encoded = await h1.get(base + "/%2e%2e/%2e%2e/etc/passwd")
    assert encoded.status_code == 400
    backslash = await h1.get(base + "/video%5c..%5csmall.bin")
    assert backslash.status_code == 400
    raw = await h3_get(base + "/video/../../etc/passwd")
    assert raw.status == 400


async def test_http3_get_and_range(
    lab: LabCdnThread, lab_payloads: dict[str, bytes], h3_get: H3Get
) -> None:
    base = lab.edges[0].base_url
    full = await h3_get(base + "/big.bin", timeout_s=10.0)
    assert full.status == 200 and full.ended
    assert hashlib.sha256(full.body).digest() == hashlib.sha256(lab_payloads["/big.bin"]).digest()
    part = await h3_get(base + "/big.bin", headers=[("range", "bytes=1000-1999")])
    assert part.status == 206
    assert part.headers["content-range"] == "bytes 1000-1999/2000000"
    assert part.body == lab_payloads["/big.bin"][1000:2000]


async def test_directory_content_serves_files_and_refuses_symlink_escape(
    tmp_path: Path, lab_ca: TestCA
) -> None:
    root = tmp_path / "root"
    (root / "v").mkdir(parents=True)
    (root / "v" / "seg.m4s").write_bytes(b"segment-bytes")
    (tmp_path / "secret.txt").write_text("secret")
    os.symlink(tmp_path / "secret.txt", root / "v" / "leak.txt")
    async with LabCdn(root, edges=1, ca=lab_ca, http3=False) as cdn:
        ctx = ssl.create_default_context(cafile=cdn.ca_file)
        async with httpx.AsyncClient(verify=ctx) as client:
            ok = await client.get(cdn.edges[0].base_url + "/v/seg.m4s")
            leak = await client.get(cdn.edges[0].base_url + "/v/leak.txt")
            directory = await client.get(cdn.origin.base_url + "/v")
    assert ok.status_code == 200 and ok.content == b"segment-bytes"
    assert ok.headers["content-type"] == "video/iso.segment"
    assert leak.status_code == 400
    assert directory.status_code == 404


def test_memory_content_refuses_traversal_and_directory_content_needs_a_dir(
    tmp_path: Path,
) -> None:
    content = MemoryContent({"a/b.bin": b"x"})
    assert content.lookup("/a/b.bin") is not None
    assert content.lookup("/a/./b.bin") is not None
    assert content.lookup("/a/c.bin") is None
    with pytest.raises(UnsafeUrl, match="refused path"):
        content.lookup("/a/../a/b.bin")
    with pytest.raises(NotADirectoryError):
        DirectoryContent(tmp_path / "missing")


def test_describe_lists_edges_origin_and_ca(lab: LabCdnThread) -> None:
    described = lab.describe()
    assert described == {
        "edges": [lab.edges[0].base_url, lab.edges[1].base_url],
        "origin": lab.origin.base_url,
        "ca_file": lab.ca_file,
    }
    ports = {edge.port for edge in lab.cdn.all}
    assert len(ports) == 3
