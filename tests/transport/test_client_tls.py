"""Certificate verification failures: typed, never retried on the same edge, failed over."""

from __future__ import annotations

import asyncio
import time

import numpy as np
import pytest

from transport import (
    AllEdgesFailed,
    HttpClient,
    RetryConfig,
    RetryPolicy,
    TlsVerificationError,
    TransportConfig,
)
from transport._retry import FailureInfo, FailureKind, classify_failure
from transport.lab import LabCdn, MemoryContent, TestCA


def test_policy_moves_on_from_an_untrusted_edge_and_never_back() -> None:
    policy = RetryPolicy(RetryConfig())
    error = TlsVerificationError("certificate of https://a not trusted", url="https://a/x")
    assert classify_failure(error) is FailureKind.UNTRUSTED
    edges = ("https://a", "https://b")
    rng = np.random.default_rng(0)
    first = FailureInfo(
        edges=edges, edge_index=0, error=error, attempt=1, now=10.0, not_found=frozenset({0})
    )
    decision = policy.on_error(first, rng=rng)
    assert decision is not None and decision.edge_index == 1 and decision.delay_s == 0.0
    both = FailureInfo(
        edges=edges, edge_index=1, error=error, attempt=2, now=10.1, not_found=frozenset({0, 1})
    )
    assert policy.on_error(both, rng=rng) is None


@pytest.mark.parametrize("protocol", ["h3", "h1"])
def test_untrusted_certificate_fails_fast_and_fails_over(protocol: str) -> None:
    trusted = TestCA()
    good = LabCdn(MemoryContent({"/a": b"payload"}), edges=1, ca=trusted).start_in_thread()
    rogue = LabCdn(MemoryContent({"/a": b"payload"}), edges=1).start_in_thread()  # its own CA

    async def run() -> tuple[BaseException, float, bytes, str]:
        config = TransportConfig(protocol=protocol, ca_file=str(trusted.ca_file))
        async with HttpClient(config) as client:
            started = time.monotonic()
            with pytest.raises(AllEdgesFailed) as failed:
                await client.fetch(rogue.edges[0].base_url + "/a")
            elapsed = time.monotonic() - started
            response = await client.fetch(
                [rogue.edges[0].base_url + "/a", good.edges[0].base_url + "/a"]
            )
        return failed.value, elapsed, response.content, response.edge

    try:
        error, elapsed, body, edge = asyncio.run(run())
    finally:
        good.stop()
        rogue.stop()
        trusted.cleanup()
    assert isinstance(error, AllEdgesFailed)
    assert [type(a) for a in error.attempts] == [TlsVerificationError]
    assert elapsed < 3.0  # no backoff: a certificate does not start verifying by itself
    assert body == b"payload"
    assert edge == good.edges[0].base_url
