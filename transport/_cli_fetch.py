"""``python -m transport fetch``: download with failover and print one JSON line per request.

Each URL given is one location of the same resource, in failover order. With ``--repeat N``
the resource is fetched N times over the same client (pooled connections, shared edge health).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import ssl
import sys
from pathlib import Path
from typing import Any, TextIO

from transport._cli import fail
from transport._cliargs import fail as _fail
from transport._cliargs import positive_float, positive_int
from transport._client import HttpClient
from transport._redact import redact_url
from transport._urls import check_url
from transport.config import RetryConfig, Timeouts, TransportConfig
from transport.errors import AllEdgesFailed, TransportError, UnsafeUrl

__all__: list[str] = []

PROG = "python -m transport fetch"

DESCRIPTION = """\
Download a resource over HTTP/3 or HTTP/1.1-2 and print one JSON line per download:
url, status, bytes, protocol, edge, ttfb_s, duration_s and the body's sha256.

The URLs are locations of the same resource (CDN edges, then the origin), tried in
order: when one fails (refused, timed out, 5xx, reset) the next one is used, the way the
player fails over between CDNs. TLS certificates are always verified; pass --ca to trust
a test CA such as the lab's."""

EPILOG = """\
examples:
  python -m transport fetch https://127.0.0.1:4433/a.bin --ca /tmp/lab-ca/ca.pem -o a.bin
  python -m transport fetch https://edge1/a.bin https://edge2/a.bin --protocol h3 --repeat 3

exit status: 0 downloaded, 1 every location failed (the JSON line says why), 2 bad input."""


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "fetch",
        help="download a resource from the first of several locations that works",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "urls",
        nargs="+",
        metavar="URL",
        help="an http:// or https:// location of the resource; give several to fail over",
    )
    parser.add_argument(
        "--protocol",
        choices=("auto", "h3", "h1"),
        default="auto",
        help="auto: HTTP/3 first, HTTP/1.1-2 if QUIC is blocked (default); h3: HTTP/3 only; "
        "h1: HTTP/1.1 or HTTP/2 over TCP only",
    )
    parser.add_argument(
        "--ca",
        metavar="FILE",
        help="also trust the CA certificate(s) in this PEM file (e.g. the lab's test CA)",
    )
    parser.add_argument(
        "-o",
        "--output",
        metavar="FILE",
        help="write the body to this file (its folder is created if missing)",
    )
    parser.add_argument(
        "--repeat",
        type=positive_int,
        default=1,
        metavar="N",
        help="download N times over the same connections (default 1)",
    )
    parser.add_argument(
        "--range",
        metavar="FIRST-LAST",
        help="download only bytes FIRST to LAST (inclusive; LAST may be left out: FIRST-)",
    )
    parser.add_argument(
        "--timeout",
        type=positive_float,
        metavar="SECONDS",
        help="give up on one download after this many seconds (default 60)",
    )
    parser.add_argument(
        "--datagram-size",
        type=positive_int,
        metavar="BYTES",
        help="largest QUIC datagram to send, 1200 to 65527 (default 1200)",
    )
    parser.add_argument(
        "--max-attempts",
        type=positive_int,
        metavar="N",
        help="attempts per download across all locations before giving up (default 6)",
    )
    parser.set_defaults(func=run)


def _config(args: argparse.Namespace) -> TransportConfig:
    timeouts = Timeouts() if args.timeout is None else Timeouts(total_s=args.timeout)
    extra: dict[str, Any] = {}
    if args.max_attempts is not None:
        extra["retry"] = RetryConfig(max_attempts=args.max_attempts)
    if args.datagram_size is not None:
        extra["max_datagram_size"] = args.datagram_size
    return TransportConfig(protocol=args.protocol, ca_file=args.ca, timeouts=timeouts, **extra)


def _byte_range(text: str | None) -> tuple[int, int] | None:
    if text is None:
        return None
    first, _, last = text.partition("-")
    if not first.isdigit() or (last and not last.isdigit()) or (last and int(last) < int(first)):
        raise ValueError(f"bad --range {text!r}: use FIRST-LAST or FIRST- (byte offsets)")
    return int(first), int(last) if last else -1


def check_inputs(args: argparse.Namespace) -> str | None:
    """Check every input before any work starts.

    Returns:
        What is wrong, naming the URL, file or option; ``None`` if all is well.
    """
    for url in args.urls:
        try:
            check_url(url)
        except UnsafeUrl as exc:
            return f"bad URL {redact_url(url)!r}: {_why_url(exc)}"
    if args.ca is not None:
        problem = _check_ca(args.ca)
        if problem:
            return problem
    if args.datagram_size is not None and not 1200 <= args.datagram_size <= 65527:
        return f"--datagram-size {args.datagram_size} is not within 1200 to 65527"
    if args.output is not None:
        folder = Path(args.output).parent
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            return f"--output {args.output}: cannot create the folder {folder}: {exc.strerror}"
        if not os.access(folder, os.W_OK) or Path(args.output).is_dir():
            return f"--output {args.output}: cannot write there"
    try:
        _byte_range(args.range)
    except ValueError as exc:
        return str(exc)
    return None


def _why_url(exc: UnsafeUrl) -> str:
    text = str(exc)
    if "scheme" in text:
        return "only http:// and https:// URLs can be fetched"
    return text


def _check_ca(path: str) -> str | None:
    ca = Path(path)
    if not ca.exists():
        return f"--ca {path}: no such file"
    if not ca.is_file():
        return f"--ca {path}: not a file"
    try:
        ssl.create_default_context().load_verify_locations(cafile=path)
    except PermissionError:
        return f"--ca {path}: permission denied"
    except (ssl.SSLError, OSError, ValueError):
        return f"--ca {path}: not a PEM certificate file"
    return None


async def _run(args: argparse.Namespace, out: TextIO) -> int:
    config = _config(args)
    byte_range = _byte_range(args.range)
    async with HttpClient(config) as client:
        for _ in range(args.repeat):
            response = await client.fetch(args.urls, byte_range=byte_range)
            sample = response.sample
            record = {
                "url": response.url,
                "status": response.status,
                "bytes": len(response.content),
                "protocol": response.protocol,
                "edge": response.edge,
                "ttfb_s": round(sample.ttfb_s, 6),
                "duration_s": round(sample.duration_s, 6),
                "sha256": hashlib.sha256(response.content).hexdigest(),
            }
            out.write(json.dumps(record) + "\n")
            out.flush()
            if args.output:
                Path(args.output).write_bytes(response.content)
    return 0


def run(args: argparse.Namespace) -> int:
    problem = check_inputs(args)
    if problem is not None:
        return fail(problem, PROG)
    try:
        _config(args)
    except ValueError as exc:  # TransportConfigError: a value out of range
        return fail(str(exc), PROG)
    try:
        return asyncio.run(_run(args, sys.stdout))
    except AllEdgesFailed as exc:
        record = {
            "error": exc.code,
            "message": str(exc),
            "attempts": len(exc.attempts),
            "attempt_errors": [error.code for error in exc.attempts],
        }
        print(json.dumps(record))
        return 1
    except TransportError as exc:
        print(json.dumps({"error": exc.code, "message": str(exc)}))
        return 1
    except OSError as exc:  # writing --output failed after the download
        return _fail(PROG, exc, 1)
