"""``python -m transport lab``: serve a directory from lab CDN edges and an origin.

Example::

    python -m transport lab --root ./media --edges 2
    {"edges": ["https://127.0.0.1:40001", "https://127.0.0.1:40002"],
     "origin": "https://127.0.0.1:40003", "ca_file": "/tmp/lab-ca-xxxx/ca.pem"}

Prints one JSON line (each URL serves HTTP/1.1 and HTTP/2 on TCP and HTTP/3 on UDP at the
same port), then serves until SIGINT or SIGTERM (or ``--duration`` seconds) and exits 0.

With ``--trace``, ``--delay-s`` or ``--loss`` each edge gets a network emulator in front of it:
``edges`` then lists the emulated URLs (what clients should use) and ``direct_edges`` the
edges themselves.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import sys
from pathlib import Path
from typing import Any

from transport.errors import TransportConfigError
from transport.lab import LabCdn, NetworkEmulator, TestCA, ThroughputTrace, load_trace

_EMULATE_S = 24 * 3600.0
"""Emulator lifetime when the lab runs until interrupted (emulators are always bounded)."""

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
    parser.add_argument(
        "--datagram-size", type=int, default=1200, help="largest QUIC datagram sent (1200-1452)"
    )
    parser.add_argument("--ca-dir", type=Path, help="write the test CA here (kept on exit)")
    parser.add_argument("--duration", type=float, help="stop by itself after this many seconds")
    parser.add_argument(
        "--trace",
        type=Path,
        help="shape each edge: a .npz trace (python -m abr traces convert IN --to npz --out DIR)",
    )
    parser.add_argument("--delay-s", type=float, default=0.0, help="emulated one-way delay")
    parser.add_argument("--loss", type=float, default=0.0, help="emulated UDP loss probability")
    parser.add_argument("--seed", type=int, default=0, help="seed of the emulated loss")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if not args.root.is_dir():
        print(f"error: --root {args.root} is not a directory", file=sys.stderr)
        return 2
    if args.edges < 0 or (args.duration is not None and args.duration <= 0):
        print("error: --edges must be >= 0 and --duration positive", file=sys.stderr)
        return 2
    try:
        trace = None if args.trace is None else load_trace(args.trace)
        return asyncio.run(_serve(args, trace))
    except TransportConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"error: cannot serve: {exc}", file=sys.stderr)
        return 1


async def _serve(args: argparse.Namespace, trace: ThroughputTrace | None) -> int:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    ca = TestCA(args.ca_dir) if args.ca_dir is not None else None
    cdn = LabCdn(
        args.root,
        edges=args.edges,
        ca=ca,
        host=args.host,
        http3=not args.no_http3,
        max_datagram_size=args.datagram_size,
    )
    async with cdn, contextlib.AsyncExitStack() as stack:
        info = cdn.describe()
        emulators = _emulators(args, cdn, trace)
        for emulator in emulators:
            await stack.enter_async_context(emulator)
        if emulators:
            info = {**info, "edges": [e.base_url for e in emulators], "direct_edges": info["edges"]}
        print(json.dumps(info), flush=True)
        try:
            await asyncio.wait_for(stop.wait(), args.duration)
        except TimeoutError:
            pass
    return 0


def _emulators(
    args: argparse.Namespace, cdn: LabCdn, trace: ThroughputTrace | None
) -> list[NetworkEmulator]:
    if trace is None and args.delay_s == 0 and args.loss == 0:
        return []
    return [
        NetworkEmulator(
            edge.base_url,
            trace=trace,
            delay_s=args.delay_s,
            loss=args.loss,
            seed=args.seed + i,
            duration_s=args.duration or _EMULATE_S,
            host=args.host,
        )
        for i, edge in enumerate(cdn.edges)
    ]
