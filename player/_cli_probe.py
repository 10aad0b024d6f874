"""``python -m player probe <file-or-url> [--json]``: parse a manifest and describe it.

A file's relative URIs are resolved against ``--base-url`` (by default a ``https://local.invalid``
URL made from the file's path, since only http(s) URLs enter the model). An http(s) URL is
fetched with the transport package's ``HttpClient``. Exit status: 0 success, 1 the fetch failed,
2 the manifest is malformed or unsupported, or the file cannot be read.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

from player.errors import ManifestError
from player.manifest import parse_manifest

__all__ = ["register"]

_LOCAL_BASE = "https://local.invalid"


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "probe",
        help="parse an HLS or DASH manifest and describe it",
        description="Parse an HLS or DASH manifest (file or http(s) URL) and describe it.",
    )
    parser.add_argument("source", help="manifest file path, or an http(s) URL")
    parser.add_argument("--json", action="store_true", help="print the JSON form")
    parser.add_argument(
        "--base-url",
        help="URL a local file's relative URIs are resolved against "
        f"(default: {_LOCAL_BASE}/<absolute path of the file>)",
    )
    parser.set_defaults(func=run)


def _fail(message: str, status: int) -> int:
    print(f"probe: {' '.join(message.split())}", file=sys.stderr)
    return status


async def _fetch(url: str) -> tuple[bytes, str]:
    transport = importlib.import_module("transport")
    client_cls = getattr(transport, "HttpClient", None)
    config_cls = getattr(transport, "TransportConfig", None)
    if client_cls is None or config_cls is None:
        raise LookupError("this build of transport has no HttpClient")
    client = client_cls(config_cls())
    try:
        response = await client.fetch(url)
    finally:
        await client.aclose()
    return bytes(response.content), str(getattr(response, "url", url))


def _read(args: argparse.Namespace) -> tuple[bytes, str] | int:
    source: str = args.source
    if source.startswith(("http://", "https://")):
        try:
            return asyncio.run(_fetch(source))
        except LookupError as exc:
            return _fail(f"cannot fetch {source}: {exc}", 2)
        except Exception as exc:  # transport errors, whatever the transport build raises
            return _fail(f"cannot fetch {source}: {type(exc).__name__}: {exc}", 1)
    path = Path(source.removeprefix("file://"))
    try:
        data = path.read_bytes()
    except OSError as exc:
        return _fail(f"cannot read {source}: {exc.strerror or exc}", 2)
    base = args.base_url or _LOCAL_BASE + quote(path.resolve().as_posix())
    return data, base


def run(args: argparse.Namespace) -> int:
    read = _read(args)
    if isinstance(read, int):
        return read
    data, url = read
    try:
        presentation = parse_manifest(data, url=url, now=time.time())
    except ManifestError as exc:
        return _fail(f"{type(exc).__name__}: {exc}", 2)
    if args.json:
        print(json.dumps(presentation.to_json(), indent=2, ensure_ascii=False, allow_nan=False))
    else:
        print(presentation.summary())
    return 0
