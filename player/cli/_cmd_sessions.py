"""``python -m player sessions serve``: run the reference session service over HTTPS.

Contract: ``--db <file> [--port N] [--token <viewer>=<token>]... [--max-streams N]``; once
listening it prints one JSON line ``{"base_url": ..., "ca_file": ...}`` on stdout and serves
until interrupted (Ctrl-C or SIGTERM), then exits 0. Bad arguments exit 2.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import signal
from typing import Any

from player.cli._args import fail, output_file
from player.config import SessionServiceConfig
from player.errors import HeartbeatError, PlayerConfigError
from player.sessions import SessionService

__all__ = ["register"]


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "sessions",
        help="the reference session service (heartbeats, resume, stream limits)",
        description="The reference session service: heartbeats, resume positions, stream limits.",
    )
    commands = parser.add_subparsers(dest="sessions_command", required=True, metavar="COMMAND")
    serve = commands.add_parser(
        "serve",
        help="serve the session service over HTTPS",
        description=(
            "Serve the session service over HTTPS (a test CA made at start-up) on SQLite. "
            "Prints one JSON line with base_url and ca_file, then serves until Ctrl-C or "
            "SIGTERM. Point 'play --heartbeat-url' at base_url (docs/heartbeats.md)."
        ),
        epilog="Exit status: 0 stopped, 2 bad input.",
    )
    serve.add_argument(
        "--db",
        type=output_file,
        required=True,
        metavar="FILE",
        help="SQLite file (created if missing)",
    )
    serve.add_argument(
        "--port", type=int, default=0, metavar="N", help="TCP/UDP port (default: a free one)"
    )
    serve.add_argument(
        "--token",
        action="append",
        default=[],
        metavar="VIEWER=TOKEN",
        help="accept 'Authorization: Bearer TOKEN' as VIEWER (repeatable)",
    )
    serve.add_argument(
        "--max-streams",
        type=int,
        default=None,
        metavar="N",
        help=f"concurrent streams per viewer (default {SessionServiceConfig().max_streams})",
    )
    serve.set_defaults(func=_serve, prog=serve.prog)


def _parse_tokens(pairs: list[str]) -> dict[str, str]:
    tokens: dict[str, str] = {}
    for pair in pairs:
        viewer, sep, token = pair.partition("=")
        if not sep or not viewer or not token:
            raise PlayerConfigError(f"--token value {len(tokens) + 1} is not VIEWER=TOKEN")
        if viewer in tokens:
            raise PlayerConfigError(f"--token given twice for viewer {viewer!r}")
        tokens[viewer] = token
    return tokens


def _serve(args: argparse.Namespace) -> int:
    try:
        config = SessionServiceConfig()
        if args.max_streams is not None:
            config = dataclasses.replace(config, max_streams=args.max_streams)
        if not 0 <= args.port <= 65535:
            raise PlayerConfigError(f"--port {args.port} is out of range")
        app = SessionService(config, db_path=str(args.db), tokens=_parse_tokens(args.token))
    except (PlayerConfigError, HeartbeatError) as exc:
        return fail(args.prog, exc)
    try:
        asyncio.run(_run(app, port=args.port))
    except KeyboardInterrupt:
        pass
    finally:
        app.close()
    return 0


async def _run(app: SessionService, *, port: int) -> None:
    from transport.lab import LabServer, TestCA

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    with contextlib.suppress(NotImplementedError):
        loop.add_signal_handler(signal.SIGTERM, stop.set)
    ca = TestCA()
    try:
        async with LabServer(app, ca=ca, port=port) as server:
            line = {"base_url": server.base_url, "ca_file": server.ca_file}
            print(json.dumps(line), flush=True)
            await stop.wait()
    finally:
        ca.cleanup()
