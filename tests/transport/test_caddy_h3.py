"""The HTTP/3 client against a foreign server: Caddy (Debian package, Go, quic-go).

Caddy is required (CI runs on a machine that has it): the test fails, not skips, without it.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from transport import HttpClient, TransportConfig
from transport.lab import TestCA

BIG = 3_000_000


def free_port() -> int:
    for _ in range(50):
        with socket.socket() as tcp:
            tcp.bind(("127.0.0.1", 0))
            port = int(tcp.getsockname()[1])
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                try:
                    udp.bind(("127.0.0.1", port))
                except OSError:
                    continue
        return port
    raise RuntimeError("no free port")


@pytest.fixture(scope="module")
def caddy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str, bytes]]:
    binary = shutil.which("caddy")
    assert binary is not None, "caddy is required (Debian package 'caddy')"
    work = tmp_path_factory.mktemp("caddy")
    root = work / "www"
    root.mkdir()
    body = os.urandom(BIG)
    (root / "big.bin").write_bytes(body)
    ca = TestCA(work / "ca")
    port = free_port()
    (work / "Caddyfile").write_text(
        "{\n\tadmin off\n\tauto_https disable_redirects\n\tdefault_sni 127.0.0.1\n"
        "\tservers {\n\t\tprotocols h1 h2 h3\n\t}\n}\n"
        f"https://127.0.0.1:{port} {{\n\ttls {ca.cert_file} {ca.key_file}\n"
        f"\troot * {root}\n\tfile_server\n}}\n"
    )
    env = {**os.environ, "HOME": str(work), "XDG_DATA_HOME": str(work)}
    log = (work / "caddy.log").open("wb")
    proc = subprocess.Popen(
        [binary, "run", "--config", str(work / "Caddyfile"), "--adapter", "caddyfile"],
        stdout=log,
        stderr=log,
        env=env,
    )
    try:
        deadline = time.monotonic() + 15
        while True:
            assert proc.poll() is None, (work / "caddy.log").read_text()[-2000:]
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    break
            assert time.monotonic() < deadline, "caddy did not start within 15 s"
            time.sleep(0.05)
        time.sleep(0.3)  # the UDP listener comes up with the TCP one
        yield f"https://127.0.0.1:{port}", str(ca.ca_file), body
    finally:
        proc.terminate()
        proc.wait(10)
        log.close()


async def test_download_from_caddy_over_h3_takes_the_fast_path(
    caddy: tuple[str, str, bytes],
) -> None:
    base, ca_file, body = caddy
    async with HttpClient(TransportConfig(protocol="h3", ca_file=ca_file)) as client:
        response = await client.fetch(base + "/big.bin")
        (conn,) = client.h3.connections.values()
        fast, slow = conn.quic.fast_packets, conn.quic.slow_packets
    assert response.protocol == "h3" and response.status == 200
    assert hashlib.sha256(response.content).digest() == hashlib.sha256(body).digest()
    # quic-go sends to one of the connection IDs the client issued, not the first one
    assert fast > 0.9 * (fast + slow), (fast, slow)


async def test_ranges_and_many_streams_from_caddy_over_h3(caddy: tuple[str, str, bytes]) -> None:
    base, ca_file, body = caddy
    ranges = [(i * 250_000, i * 250_000 + 99_999) for i in range(12)]
    async with HttpClient(TransportConfig(protocol="h3", ca_file=ca_file)) as client:
        responses = await asyncio.gather(
            *(client.fetch(base + "/big.bin", byte_range=r) for r in ranges)
        )
        assert len(client.h3.connections) == 1  # all of them on one QUIC connection
    for (first, last), response in zip(ranges, responses, strict=True):
        assert response.status == 206
        assert response.content == body[first : last + 1]


def test_caddy_is_a_real_foreign_server(caddy: tuple[str, str, bytes]) -> None:
    version = subprocess.run(
        ["caddy", "version"], capture_output=True, text=True, timeout=10, check=True
    )
    assert version.stdout.lstrip("v").startswith("2."), version.stdout
    assert Path(caddy[1]).is_file()
