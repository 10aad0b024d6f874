"""Issue 12: a refused connection or an unknown host is reported at once, not after 19 s of
backoff, and the next location is tried without delay. Real sockets on loopback."""

from __future__ import annotations

import socket
import time

import pytest

from transport import (
    AllEdgesFailed,
    ConnectionRefused,
    HttpClient,
    RetryConfig,
    TransportConfig,
    UnknownHost,
)
from transport.lab import LabCdnThread

PROTOCOLS = ["h1", "h3", "auto"]


def refused_port() -> int:
    """A loopback port nobody listens on, for TCP and UDP (bound, then released)."""
    with socket.socket() as tcp, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        tcp.bind(("127.0.0.1", 0))
        port = int(tcp.getsockname()[1])
        udp.bind(("127.0.0.1", port))
    return port


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize(
    ("where", "error_type"),
    [("refused", ConnectionRefused), ("unknown-host", UnknownHost)],
)
async def test_only_origin_unreachable_is_reported_within_two_seconds(
    protocol: str, where: str, error_type: type[Exception]
) -> None:
    # The port is picked when the test runs (not at collection, where it would be held by
    # nobody for the whole run, and differ between pytest-xdist workers' test ids).
    host = f"127.0.0.1:{refused_port()}" if where == "refused" else "no-such-edge.invalid"
    url = f"https://{host}/seg.m4s"
    config = TransportConfig(protocol=protocol)  # type: ignore[arg-type]
    assert config.retry.max_attempts > 1  # the default budget: it is the policy that stops
    started = time.monotonic()
    async with HttpClient(config) as client:
        with pytest.raises(AllEdgesFailed) as failure:
            await client.fetch(url)
    elapsed = time.monotonic() - started
    assert elapsed < 2.0
    assert len(failure.value.attempts) == 1
    assert isinstance(failure.value.attempts[0], error_type)
    assert failure.value.attempts[0].url == url


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_refused_edge_fails_over_to_the_next_without_delay(
    lab: LabCdnThread, lab_payloads: dict[str, bytes], protocol: str
) -> None:
    dead = f"https://127.0.0.1:{refused_port()}/small.bin"
    config = TransportConfig(
        protocol=protocol,  # type: ignore[arg-type]
        ca_file=lab.ca_file,
        retry=RetryConfig(base_delay_s=5.0, max_delay_s=5.0),  # a backoff would show
    )
    started = time.monotonic()
    async with HttpClient(config) as client:
        response = await client.fetch([dead, lab.edges[0].base_url + "/small.bin"])
        elapsed = time.monotonic() - started
        assert client.last_failure_codes == {dead.rsplit("/", 1)[0]: "transport.connection_refused"}
    assert response.content == lab_payloads["/small.bin"]
    assert response.edge == lab.edges[0].base_url
    assert elapsed < 2.0
