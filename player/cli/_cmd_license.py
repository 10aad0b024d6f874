"""``python -m player license serve``: the lab's ClearKey license server, over HTTPS.

Serves drm's ``LicenseServerApp`` with the keys of a keys file (``content make`` writes
one), prints one JSON line ``{"license_url": ..., "ca_file": ..., "tokens": {...}}`` and
serves until interrupted (Ctrl-C or SIGTERM), then exits 0.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import secrets
import signal
from typing import Any

from drm.config import LicensePolicy, LicenseServerConfig
from player.cli._args import BadInput, input_file, output_dir, positive_float
from player.cli._keysfile import read_keys_file

__all__ = ["register"]


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "license",
        help="the lab's ClearKey license server (keys from a keys file)",
        description="The lab's ClearKey license server.",
    )
    commands = parser.add_subparsers(dest="license_command", required=True, metavar="COMMAND")
    serve = commands.add_parser(
        "serve",
        help="serve ClearKey licenses for the keys in a keys file, over HTTPS",
        description=(
            "Serve W3C ClearKey licenses over HTTPS (HTTP/3 and HTTP/1.1-2, a test CA made at "
            "start-up) for the keys in a keys file. Clients send 'Authorization: Bearer TOKEN'. "
            "Persistent licenses (offline downloads) go only to the viewers named with "
            "--persistent. "
            "Prints one JSON line with license_url, ca_file and the tokens, then serves until "
            "Ctrl-C or SIGTERM."
        ),
        epilog=(
            "Play with: python -m player play URL --license-url LICENSE_URL --ca CA_FILE "
            "--header 'Authorization: Bearer TOKEN'. Exit status: 0 stopped, 2 bad input."
        ),
    )
    serve.add_argument(
        "--keys-file", type=input_file, required=True, metavar="FILE", help="keys to serve"
    )
    serve.add_argument(
        "--token",
        action="append",
        default=[],
        metavar="VIEWER=TOKEN",
        help="accept this bearer token (repeatable; default: one random token, printed)",
    )
    serve.add_argument(
        "--persistent",
        action="append",
        default=[],
        metavar="VIEWER",
        help="let this viewer's token receive persistent licenses (offline downloads); "
        "repeatable, 'all' for every token (default: none)",
    )
    serve.add_argument(
        "--persistent-duration",
        type=positive_float,
        default=LicensePolicy().persistent_duration_s,
        metavar="S",
        help="how long a persistent license stays usable, seconds (default 30 days)",
    )
    serve.add_argument(
        "--grant",
        action="append",
        default=[],
        metavar="VIEWER=KID[,KID...]",
        help="this viewer's token receives only these KIDs of the keys file (repeatable; "
        "default: every KID), e.g. SD keys without HD",
    )
    serve.add_argument(
        "--partial",
        action="store_true",
        help="answer a request naming KIDs the token may not receive with the keys it may "
        "(a partial licence) instead of refusing it with 403",
    )
    serve.add_argument(
        "--port", type=int, default=0, metavar="N", help="TCP/UDP port (default: a free one)"
    )
    serve.add_argument(
        "--ca-dir", type=output_dir, metavar="DIR", help="write the test CA here (kept on exit)"
    )
    serve.set_defaults(func=_serve, prog=serve.prog)


def _tokens(pairs: list[str]) -> dict[str, str]:
    tokens: dict[str, str] = {}
    for number, pair in enumerate(pairs, start=1):
        viewer, sep, token = pair.partition("=")
        if not sep or not viewer or not token:
            raise BadInput(f"--token value {number} is not VIEWER=TOKEN")
        tokens[viewer] = token
    return tokens or {"qa": secrets.token_urlsafe(16)}


def _grants(pairs: list[str], tokens: dict[str, str], keys: dict[str, str]) -> dict[str, list[str]]:
    """``--grant VIEWER=KID,...``: viewer -> the KIDs its token may receive."""
    grants: dict[str, list[str]] = {}
    for number, pair in enumerate(pairs, start=1):
        viewer, sep, listed = pair.partition("=")
        if viewer not in tokens:
            raise BadInput(f"--grant value {number} names no viewer of --token")
        kids = [kid.strip().replace("-", "").lower() for kid in listed.split(",") if kid.strip()]
        if not sep or not kids:
            raise BadInput(f"--grant value {number} is not VIEWER=KID[,KID...]")
        unknown = [kid for kid in kids if kid not in keys]
        if unknown:
            raise BadInput(f"--grant value {number}: KID {unknown[0]} is not in the keys file")
        grants.setdefault(viewer, []).extend(kids)
    return grants


def _serve(args: argparse.Namespace) -> int:
    if not 0 <= args.port <= 65535:
        raise BadInput(f"--port {args.port} is out of range (0-65535)")
    try:
        from transport.lab import LabServer, TestCA
    except ImportError as exc:
        raise BadInput(
            f"license serve needs the lab extra (pip install 'streamsdk[lab]'): {exc}"
        ) from exc
    app, tokens, persistent = license_app(args)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_run(app, args, tokens, LabServer, TestCA, persistent))
    return 0


def license_app(args: argparse.Namespace) -> tuple[Any, dict[str, str], list[str]]:
    """The server the options describe: the app, tokens (viewer -> token), offline viewers.

    Raises:
        BadInput: An option names an unknown viewer or KID, or the keys file is unusable.
    """
    from drm import LicenseServerApp

    keys = read_keys_file(args.keys_file)
    tokens = _tokens(args.token)
    offline = LicensePolicy(allow_persistent=True, persistent_duration_s=args.persistent_duration)
    unknown = sorted(set(args.persistent) - set(tokens) - {"all"})
    if unknown:
        raise BadInput(f"--persistent {unknown[0]!r} names no viewer of --token")
    policies = {
        token: offline
        for viewer, token in tokens.items()
        if viewer in args.persistent or "all" in args.persistent
    }
    grants = _grants(args.grant, tokens, keys)
    app = LicenseServerApp(
        keys,
        {token: grants.get(viewer, ["*"]) for viewer, token in tokens.items()},
        policies=policies,
        config=LicenseServerConfig(partial_licenses=args.partial),
    )
    persistent = sorted(v for v, t in tokens.items() if t in policies)
    return app, tokens, persistent


async def _run(
    app: Any,
    args: argparse.Namespace,
    tokens: dict[str, str],
    server: Any,
    ca_cls: Any,
    persistent: list[str],
) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(signum, stop.set)
    ca = ca_cls(args.ca_dir) if args.ca_dir is not None else ca_cls()
    try:
        async with server(app, ca=ca, port=args.port) as lab:
            line = {
                "license_url": lab.base_url + "/license",
                "ca_file": lab.ca_file,
                "tokens": tokens,
                "persistent": persistent,
            }
            print(json.dumps(line), flush=True)
            await stop.wait()
    finally:
        if args.ca_dir is None:
            ca.cleanup()
