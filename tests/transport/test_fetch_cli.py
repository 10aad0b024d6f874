"""``python -m transport fetch`` against the lab CDN, as a user runs it (a subprocess)."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from transport.lab import LabCdnThread, StatusFault

ROOT = Path(__file__).resolve().parents[2]


def run_fetch(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "transport", "fetch", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        check=False,
    )


@pytest.mark.parametrize("protocol", ["h3", "h1", "auto"])
def test_fetch_prints_one_json_line_and_writes_the_body(
    lab: LabCdnThread, lab_payloads: dict[str, bytes], protocol: str, tmp_path: Path
) -> None:
    out = tmp_path / "body.bin"
    url = lab.edges[0].base_url + "/medium.bin"
    done = run_fetch(url, "--protocol", protocol, "--ca", lab.ca_file, "-o", str(out))
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 1
    record = json.loads(lines[0])
    payload = lab_payloads["/medium.bin"]
    assert record["bytes"] == len(payload)
    assert record["sha256"] == hashlib.sha256(payload).hexdigest()
    assert record["protocol"] == ("h2" if protocol == "h1" else "h3")
    assert record["edge"] == lab.edges[0].base_url
    assert 0 < record["ttfb_s"] <= record["duration_s"] < 10
    assert out.read_bytes() == payload


def test_fetch_fails_over_across_the_urls_in_order(
    lab: LabCdnThread, lab_payloads: dict[str, bytes]
) -> None:
    lab.edges[0].faults.set(StatusFault(status=503), count=1)
    urls = [lab.edges[0].base_url + "/small.bin", lab.edges[1].base_url + "/small.bin"]
    done = run_fetch(*urls, "--ca", lab.ca_file, "--protocol", "h3", "--repeat", "2")
    assert done.returncode == 0, done.stderr
    records = [json.loads(line) for line in done.stdout.splitlines()]
    # the first request fails over; the second stays on the healthy edge (edge0 excluded)
    assert [r["edge"] for r in records] == [lab.edges[1].base_url] * 2
    assert {r["sha256"] for r in records} == {
        hashlib.sha256(lab_payloads["/small.bin"]).hexdigest()
    }


def test_fetch_refuses_non_http_urls() -> None:
    done = run_fetch("file:///etc/passwd")
    assert done.returncode == 2
    assert json.loads(done.stdout)["error"] == "transport.unsafe_url"


def test_fetch_without_the_ca_reports_every_attempt(lab: LabCdnThread) -> None:
    done = run_fetch(
        lab.edges[0].base_url + "/small.bin", "--protocol", "h1", "--max-attempts", "2"
    )
    assert done.returncode == 1
    record = json.loads(done.stdout)
    assert record["error"] == "transport.all_edges_failed"
    assert record["attempts"] == 1  # an untrusted certificate is not retried on the same edge
    assert "certificate" in record["message"].lower()
