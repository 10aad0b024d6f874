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
import sys
from typing import Any

from player.config import SessionServiceConfig
from player.errors import HeartbeatError, PlayerConfigError
from player.sessions import SessionService

__all__ = ["register"]


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "sessions", help="the reference session service (heartbeats, resume, stream limits)"
    )
    commands = parser.add_subparsers(dest="sessions_command", required=True)
    serve = commands.add_parser("serve", help="serve the session service over HTTPS")
    serve.add_argument("--db", required=True, help="SQLite file (created if missing)")
    serve.add_argument("--port", type=int, default=0, help="port (default: a free one)")
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
        help=f"concurrent streams per viewer (default {SessionServiceConfig().max_streams})",
    )
    serve.set_defaults(func=_serve)


def _parse_tokens(pairs: list[str]) -> dict[str, str]:
    tokens: dict[str, str] = {}
    for pair in pairs:
        viewer, sep, token = pair.partition("=")
        if not sep or not viewer or not token:
            raise PlayerConfigError(f"--token wants VIEWER=TOKEN, got {pair.split('=')[0]!r}=...")
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
        app = SessionService(config, db_path=args.db, tokens=_parse_tokens(args.token))
    except (PlayerConfigError, HeartbeatError) as exc:
        print(f"sessions serve: {exc}", file=sys.stderr)
        return 2
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
