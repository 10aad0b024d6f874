"""``python -m transport lab``: serve a directory from lab CDN edges and an origin.

Example::

    python -m transport lab --root ./media --edges 2
    {"edges": ["https://127.0.0.1:40001", "https://127.0.0.1:40002"],
     "origin": "https://127.0.0.1:40003", "ca_file": "/tmp/lab-ca-xxxx/ca.pem"}

Prints one JSON line (each URL serves HTTP/1.1 and HTTP/2 on TCP and HTTP/3 on UDP at the
same port), then serves until SIGINT or SIGTERM (or ``--duration`` seconds) and exits 0.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
from pathlib import Path
from typing import Any

from transport.lab import LabCdn, TestCA

__all__: list[str] = []


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "lab",
        help="serve a directory from lab CDN edges (HTTPS, h1/h2/h3) until interrupted",
        description=__doc__.splitlines()[0],
    )
    parser.add_argument("--root", required=True, type=Path, help="directory to serve")
    parser.add_argument("--edges", type=int, default=2, help="number of edges (default 2)")
    parser.add_argument("--host", default="127.0.0.1", help="listen address (loopback)")
    parser.add_argument("--no-http3", action="store_true", help="serve TCP only")
    parser.add_argument("--ca-dir", type=Path, help="write the test CA here (kept on exit)")
    parser.add_argument("--duration", type=float, help="stop by itself after this many seconds")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if not args.root.is_dir():
        print(f"error: --root {args.root} is not a directory", file=sys.stderr)
        return 2
    if args.edges < 0 or (args.duration is not None and args.duration <= 0):
        print("error: --edges must be >= 0 and --duration positive", file=sys.stderr)
        return 2
    try:
        return asyncio.run(_serve(args))
    except OSError as exc:
        print(f"error: cannot serve: {exc}", file=sys.stderr)
        return 1


async def _serve(args: argparse.Namespace) -> int:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    ca = TestCA(args.ca_dir) if args.ca_dir is not None else None
    cdn = LabCdn(args.root, edges=args.edges, ca=ca, host=args.host, http3=not args.no_http3)
    async with cdn:
        print(json.dumps(cdn.describe()), flush=True)
        try:
            await asyncio.wait_for(stop.wait(), args.duration)
        except TimeoutError:
            pass
    return 0
