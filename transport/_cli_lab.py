"""``python -m transport lab``: serve a directory from lab CDN edges and an origin.

Prints one JSON line (each URL serves HTTP/1.1 and HTTP/2 on TCP and HTTP/3 on UDP at the
same port), then serves until SIGINT or SIGTERM (or ``--stop-after`` seconds) and exits 0.
With ``--trace``, ``--delay-s`` or ``--loss`` each edge gets a network emulator in front of it:
``edges`` then lists the emulated URLs (what clients should use) and ``direct_edges`` the
edges themselves. With ``--steering A,B`` a content steering server runs too and the edges
play those pathways (``steering`` in the JSON line).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
from typing import Any, cast

from transport._cli import fail
from transport._cliargs import fail as _fail
from transport._cliargs import (
    input_dir,
    input_file,
    non_negative_float,
    non_negative_int,
    output_dir,
    output_file,
    positive_float,
)
from transport.errors import TransportConfigError
from transport.lab import (
    LabCdn,
    LabServer,
    NetworkEmulator,
    SteeringApp,
    TestCA,
    ThroughputTrace,
    load_trace,
)

_EMULATE_S = 24 * 3600.0
"""Emulator lifetime when the lab runs until interrupted (emulators are always bounded)."""

__all__: list[str] = []

PROG = "python -m transport lab"

DESCRIPTION = """\
Serve the files of a directory from local CDN edges and an origin, over HTTPS with
HTTP/1.1, HTTP/2 and HTTP/3 at the same port, with a test CA made at start-up.

When the servers are up, one JSON line is printed:
  {"edges": [URL, ...], "origin": URL, "ca_file": PATH}
Clients must trust ca_file (e.g. "python -m transport fetch URL --ca PATH"). The lab then
serves until Ctrl-C or SIGTERM (or --stop-after seconds) and exits with status 0.

With --trace, --delay-s or --loss, a network emulator stands in front of each edge: "edges"
then lists the emulated URLs (use these) and "direct_edges" the unshaped ones.

With --steering A,B a content steering server runs too, and the edges play the pathways
named, in order (edge 0 is pathway A...). The JSON line then has
  "steering": {"url": URL, "control": URL, "pathways": {"A": URL, ...}}
"url" is what an HLS EXT-X-CONTENT-STEERING SERVER-URI or a DASH ContentSteering element
names; POST {"priority": ["B", "A"], "ttl_s": 5} to "control" changes its answer.

With --request-log FILE, every request any edge or the origin answers is appended to FILE
as one JSON line: edge, method, path, query, HTTP version, status, fault, and the Common
Media Client Data (CMCD) it carried, parsed from the CMCD query argument or the CMCD-*
headers."""

EPILOG = """\
examples:
  python -m transport lab --root ./content
  python -m transport lab --root ./content --edges 1 --trace 3g.npz --delay-s 0.04
  python -m transport lab --root ./content --edges 2 --steering A,B --steering-ttl 5
  python -m transport lab --root ./content --request-log requests.jsonl

exit status: 0 stopped, 1 cannot serve (e.g. the port is taken), 2 bad input."""


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "lab",
        help="serve a directory from local CDN edges over HTTPS (HTTP/1.1, HTTP/2, HTTP/3)",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--root", required=True, type=input_dir, metavar="DIR", help="the directory to serve"
    )
    parser.add_argument(
        "--edges",
        type=non_negative_int,
        default=2,
        metavar="N",
        help="number of CDN edges besides the origin (default 2)",
    )
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default 127.0.0.1; the certificate names 127.0.0.1, "
        "::1 and localhost)",
    )
    parser.add_argument(
        "--no-http3", action="store_true", help="serve HTTP/1.1 and HTTP/2 only (no UDP)"
    )
    parser.add_argument(
        "--datagram-size",
        type=int,
        default=1200,
        metavar="BYTES",
        help="largest QUIC datagram the servers send, 1200 to 1452 (default 1200)",
    )
    parser.add_argument(
        "--ca-dir",
        type=output_dir,
        metavar="DIR",
        help="write the test CA to this folder and keep it after exit (default: a "
        "temporary folder, removed on exit)",
    )
    parser.add_argument(
        "--request-log",
        type=output_file,
        metavar="FILE",
        help="append one JSON line per request answered (path, status, and the CMCD it "
        "carried) to this file",
    )
    parser.add_argument(
        "--stop-after",
        type=positive_float,
        metavar="SECONDS",
        help="stop by itself after this many seconds (default: run until interrupted)",
    )
    # The old name of --stop-after: command lines in scripts keep working (not in --help,
    # where "duration" read as the length of content, as in 'content make --duration').
    parser.add_argument(
        "--duration", type=positive_float, dest="stop_after", help=argparse.SUPPRESS
    )
    parser.add_argument(
        "--trace",
        type=input_file,
        metavar="FILE",
        help="shape each edge's download rate to this throughput trace, looping: a .npz "
        "archive, which 'python -m abr traces convert FILE --to npz --out DIR' writes from "
        "any trace format",
    )
    parser.add_argument(
        "--delay-s",
        type=non_negative_float,
        default=0.0,
        metavar="SECONDS",
        help="one-way delay the emulator adds in each direction (default 0)",
    )
    parser.add_argument(
        "--loss",
        type=non_negative_float,
        default=0.0,
        metavar="P",
        help="probability that the emulator drops a UDP datagram, 0 to below 1 (default 0)",
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=0,
        metavar="N",
        help="seed of the emulated loss, for repeatable runs (default 0)",
    )
    parser.add_argument(
        "--steering",
        metavar="IDS",
        help="also run a content steering server; comma-separated pathway ids, one per edge",
    )
    parser.add_argument(
        "--steering-ttl",
        type=positive_float,
        default=10.0,
        metavar="SECONDS",
        help="TTL the steering server answers (default 10)",
    )
    parser.set_defaults(func=run)


def check_inputs(args: argparse.Namespace) -> str | None:
    """Check the inputs before anything starts; return what is wrong, or ``None``."""
    if not os.access(args.root, os.R_OK | os.X_OK):
        return f"--root {args.root}: cannot read it"
    if not 1200 <= args.datagram_size <= 1452:
        return f"--datagram-size {args.datagram_size} is not within 1200 to 1452"
    if args.loss >= 1:
        return f"--loss {args.loss} must be below 1"
    if args.steering is not None:
        pathways = [p for p in args.steering.split(",") if p]
        if not 0 < len(pathways) <= args.edges:
            return f"--steering {args.steering}: give one to {args.edges} pathway ids (--edges)"
    return None


def run(args: argparse.Namespace) -> int:
    problem = check_inputs(args)
    if problem is not None:
        return fail(problem, PROG)
    try:
        trace = None if args.trace is None else load_trace(args.trace)
    except TransportConfigError as exc:
        return fail(f"--trace {exc}", PROG)
    try:
        return asyncio.run(_serve(args, trace))
    except TransportConfigError as exc:
        return fail(str(exc), PROG)
    except OSError as exc:
        return _fail(PROG, f"cannot serve: {exc}", 1)


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
        request_log=args.request_log,
    )
    async with cdn, contextlib.AsyncExitStack() as stack:
        info = cdn.describe()
        emulators = _emulators(args, cdn, trace)
        for emulator in emulators:
            await stack.enter_async_context(emulator)
        if emulators:
            info = {**info, "edges": [e.base_url for e in emulators], "direct_edges": info["edges"]}
        if args.steering is not None:
            edges = [str(url) for url in cast(list[object], info["edges"])]
            info["steering"] = await _steering(args, cdn.ca, edges, stack)
        print(json.dumps(info), flush=True)
        try:
            await asyncio.wait_for(stop.wait(), args.stop_after)
        except TimeoutError:
            pass
    return 0


async def _steering(
    args: argparse.Namespace, ca: TestCA, edges: list[str], stack: contextlib.AsyncExitStack
) -> dict[str, Any]:
    pathways = [p for p in args.steering.split(",") if p]
    app = SteeringApp(priority=pathways, ttl_s=args.steering_ttl)
    server = LabServer(app, ca=ca, host=args.host, http3=not args.no_http3)
    await stack.enter_async_context(server)
    return {
        "url": f"{server.base_url}/steer",
        "control": f"{server.base_url}/control",
        "pathways": dict(zip(pathways, edges, strict=False)),
    }


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
            duration_s=args.stop_after or _EMULATE_S,
            host=args.host,
        )
        for i, edge in enumerate(cdn.edges)
    ]
