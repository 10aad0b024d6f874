"""``python -m transport fetch``: download with failover and print one JSON line per request.

Example::

    python -m transport fetch https://127.0.0.1:4433/a.bin https://127.0.0.1:4434/a.bin \\
        --protocol auto --ca /tmp/lab-ca/ca.pem -o a.bin

Each URL given is one location of the same resource, in failover order. With ``--repeat N``
the resource is fetched N times over the same client (pooled connections, shared edge health).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import sys
from pathlib import Path
from typing import Any, TextIO

from transport._client import HttpClient
from transport.config import RetryConfig, Timeouts, TransportConfig
from transport.errors import AllEdgesFailed, TransportError, UnsafeUrl

__all__: list[str] = []


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "fetch",
        help="download a resource with failover across the URLs given",
        description=__doc__.splitlines()[0],
    )
    parser.add_argument("urls", nargs="+", metavar="url", help="locations, in failover order")
    parser.add_argument("--protocol", choices=("h3", "h1", "auto"), default="auto")
    parser.add_argument("--ca", metavar="FILE", help="extra CA certificate (PEM) to trust")
    parser.add_argument("-o", "--output", metavar="FILE", help="write the body here")
    parser.add_argument("--repeat", type=int, default=1, help="fetch this many times")
    parser.add_argument("--range", metavar="FIRST-LAST", help="inclusive byte range")
    parser.add_argument("--timeout", type=float, default=None, help="total timeout, seconds")
    parser.add_argument("--datagram-size", type=int, default=None, help="QUIC datagram size")
    parser.add_argument("--max-attempts", type=int, default=None, help="retry budget per request")
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
    if not first.isdigit() or (last and not last.isdigit()):
        raise ValueError(f"bad --range {text!r}; use FIRST-LAST")
    return int(first), int(last) if last else -1


async def _run(args: argparse.Namespace, out: TextIO) -> int:
    config = _config(args)
    byte_range = _byte_range(args.range)
    async with HttpClient(config) as client:
        for _ in range(max(args.repeat, 1)):
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
    try:
        return asyncio.run(_run(args, sys.stdout))
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except UnsafeUrl as exc:
        print(json.dumps({"error": exc.code, "message": str(exc)}))
        return 2
    except AllEdgesFailed as exc:
        record = {"error": exc.code, "message": str(exc), "attempts": len(exc.attempts)}
        print(json.dumps(record))
        return 1
    except TransportError as exc:
        print(json.dumps({"error": exc.code, "message": str(exc)}))
        return 1
