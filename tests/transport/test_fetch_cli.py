"""``python -m transport fetch`` against the lab CDN, as a user runs it (a subprocess)."""

from __future__ import annotations

import argparse
import hashlib
import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from transport._cli import build_parser, main
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
    assert done.stdout == ""
    assert done.stderr.splitlines() == [
        "python -m transport fetch: error: bad URL 'file:///etc/passwd': only http:// and "
        "https:// URLs can be fetched"
    ]


@pytest.mark.parametrize("protocol", ["h1", "h3"])
def test_fetch_without_the_ca_reports_an_untrusted_certificate(
    lab: LabCdnThread, protocol: str
) -> None:
    done = run_fetch(
        lab.edges[0].base_url + "/small.bin", "--protocol", protocol, "--max-attempts", "2"
    )
    assert done.returncode == 1
    record = json.loads(done.stdout)
    assert record["error"] == "transport.all_edges_failed"
    # an untrusted certificate is not retried on the same edge: one attempt, and it is that
    assert record["attempt_errors"] == ["transport.tls_verification"]
    assert "not trusted" in record["message"]


def test_fetch_reports_a_refused_connection_at_once() -> None:
    with socket.socket() as tcp:
        tcp.bind(("127.0.0.1", 0))
        port = tcp.getsockname()[1]
    done = run_fetch(f"https://127.0.0.1:{port}/a.bin", "--protocol", "h1")
    assert done.returncode == 1
    record = json.loads(done.stdout)
    assert record["attempt_errors"] == ["transport.connection_refused"]
    assert "Traceback" not in done.stderr


def bad_input_cases(tmp_path: Path) -> list[tuple[list[str], str]]:
    not_pem = tmp_path / "photo.jpg"
    not_pem.write_bytes(b"\xff\xd8\xff\xe0 JFIF not a certificate")
    url = "https://127.0.0.1:9/a.bin"
    return [
        ([url, "--ca", "/nope.pem"], "--ca /nope.pem: no such file"),
        ([url, "--ca", str(tmp_path)], f"--ca {tmp_path}: not a file"),
        ([url, "--ca", str(not_pem)], f"--ca {not_pem}: not a PEM certificate file"),
        (["not-a-url"], "bad URL 'not-a-url'"),
        (["https:///no-host"], "bad URL 'https:///no-host'"),
        ([url, "-o", "/proc/streamsdk-nope/a.bin"], "cannot create the folder"),
        ([url, "--range", "9-1"], "bad --range '9-1'"),
        ([url, "--datagram-size", "100"], "--datagram-size 100"),
        ([url, "--repeat", "x"], "argument --repeat: 'x' is not a whole number"),
        ([url, "--repeat", "0"], "argument --repeat: '0' must be at least 1"),
        ([url, "--timeout", "-1"], "argument --timeout: '-1' must be a number greater than 0"),
        ([url, "--max-attempts", "1.5"], "argument --max-attempts"),
        ([url, "--protocol", "h2"], "argument --protocol: invalid choice: 'h2'"),
    ]


def test_bad_input_is_one_line_naming_the_thing_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for args, expected in bad_input_cases(tmp_path):
        try:
            status = main(["fetch", *args])
        except SystemExit as exit_:  # argparse's own errors
            status = int(exit_.code or 0)
        out, err = capsys.readouterr()
        assert status == 2, args
        assert out == "", args
        assert len(err.splitlines()) == 1, (args, err)
        assert expected in err, (args, err)


def test_a_missing_ca_as_a_user_sees_it() -> None:
    done = run_fetch("https://127.0.0.1:9/a.bin", "--ca", "/nope.pem")
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == "python -m transport fetch: error: --ca /nope.pem: no such file\n"


def test_every_command_and_option_has_help_written_for_users() -> None:
    parser = build_parser()
    subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    assert sorted(subparsers.choices) == ["fetch", "lab"]
    helps = {c.dest: c.help for c in subparsers._choices_actions}
    for name, sub in subparsers.choices.items():
        assert helps[name] and "``" not in helps[name]
        assert sub.description and "``" not in sub.description
        for action in sub._actions:
            assert action.help, f"{name} {action.option_strings or action.dest} has no help"
            assert "``" not in action.help and ":class:" not in action.help
    text = parser.format_help()
    assert "fetch" in text and "lab" in text and "``" not in text
