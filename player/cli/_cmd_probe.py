"""``python -m player probe <file-or-url> [--json]``: parse a manifest and describe it.

A file's relative URIs are resolved against ``--base-url`` (by default a ``https://local.invalid``
URL made from the file's path, since only http(s) URLs enter the model). An http(s) URL is
fetched with the transport package's ``HttpClient``. With ``--media``, the media playlists of an
HLS multivariant playlist are loaded too (fetched, or read from beside a local file). Exit
status: 0 success, 1 a fetch failed, 2 a manifest is malformed or unsupported, or a file cannot
be read.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

from player.cli._args import fail, http_url
from player.errors import ManifestError, redact_url
from player.manifest import Presentation, load_media_playlist, parse_manifest

__all__ = ["register"]

_LOCAL_BASE = "https://local.invalid"
_PROG = "python -m player probe"


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "probe",
        help="parse an HLS or DASH manifest and describe it",
        description=(
            "Parse an HLS or DASH manifest (a file or an http(s) URL) and describe the "
            "presentation the player would see: tracks, renditions, segments, keys, live timing."
        ),
        epilog=(
            "Exit status: 0 described, 1 fetching a URL failed, 2 the manifest is malformed or "
            "unsupported, or the file cannot be read."
        ),
    )
    parser.add_argument("source", metavar="MANIFEST", help="manifest file path, or an http(s) URL")
    parser.add_argument("--json", action="store_true", help="print the JSON form")
    parser.add_argument(
        "--base-url",
        type=http_url,
        metavar="URL",
        help="URL a local file's relative URIs are resolved against "
        f"(default: {_LOCAL_BASE}/<absolute path of the file>)",
    )
    parser.add_argument(
        "--media",
        action="store_true",
        help="HLS multivariant playlist: also load every media playlist (segments, keys, "
        "live timing); a local file's media playlists are read from beside it",
    )
    parser.set_defaults(func=run, prog=parser.prog)


def _fail(message: str, status: int) -> int:
    return fail(_PROG, message, status)


class _ReadFailed(Exception):
    """A manifest or playlist could not be read; ``status`` is the exit status to use."""

    def __init__(self, message: str, *, status: int) -> None:
        super().__init__(message)
        self.status = status


async def _fetch_all(urls: list[str]) -> list[tuple[bytes, str]]:
    transport = importlib.import_module("transport")
    client_cls = getattr(transport, "HttpClient", None)
    config_cls = getattr(transport, "TransportConfig", None)
    if client_cls is None or config_cls is None:
        raise _ReadFailed("cannot fetch: this build of transport has no HttpClient", status=2)
    client = client_cls(config_cls())
    try:
        responses = await asyncio.gather(*(client.fetch(url) for url in urls))
    finally:
        await client.aclose()
    return [
        (bytes(r.content), str(getattr(r, "url", u))) for r, u in zip(responses, urls, strict=True)
    ]


class _Reader:
    """Reads URLs: over HTTP, or from the local directory a local manifest's base URL maps to."""

    def __init__(self, local: tuple[str, Path] | None) -> None:
        self.local = local

    def read(self, urls: list[str]) -> list[tuple[bytes, str]]:
        if self.local is not None:
            return [_read_file(url, *self.local) for url in urls]
        try:
            return asyncio.run(_fetch_all(urls))
        except _ReadFailed:
            raise
        except Exception as exc:  # transport errors, whatever the transport build raises
            what = redact_url(urls[0]) if len(urls) == 1 else "the media playlists"
            raise _ReadFailed(
                f"cannot fetch {what}: {type(exc).__name__}: {exc}", status=1
            ) from exc


def _read_file(url: str, base: str, directory: Path) -> tuple[bytes, str]:
    """Read the file a URL under ``base`` maps to in ``directory``."""
    plain = url.split("#", 1)[0].split("?", 1)[0]
    path = (directory / unquote(plain[len(base) :])).resolve()
    if not plain.startswith(base) or not path.is_relative_to(directory.resolve()):
        raise _ReadFailed(f"cannot read {redact_url(url)}: not under {base}", status=2)
    try:
        return path.read_bytes(), url
    except OSError as exc:
        raise _ReadFailed(f"cannot read {path}: {exc.strerror or exc}", status=2) from exc


def _read_source(args: argparse.Namespace) -> tuple[bytes, str, _Reader]:
    source: str = args.source
    if source.startswith(("http://", "https://")):
        reader = _Reader(None)
        data, url = reader.read([source])[0]
        return data, url, reader
    path = Path(source.removeprefix("file://"))
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise _ReadFailed(f"cannot read {source}: {exc.strerror or exc}", status=2) from exc
    url = args.base_url or _LOCAL_BASE + quote(path.resolve().as_posix())
    base = url.split("#", 1)[0].split("?", 1)[0]
    return data, url, _Reader((base[: base.rfind("/") + 1], path.parent))


def _load_media(presentation: Presentation, reader: _Reader) -> Presentation:
    """Load the media playlist of every representation of a multivariant HLS presentation."""
    reps = [r for r in presentation.representations() if r.segments is None and r.playlist_urls]
    urls = sorted({r.playlist_urls[0] for r in reps})
    bodies = dict(zip(urls, reader.read(urls), strict=True)) if urls else {}
    now = time.time()
    for rep in reps:
        data, final_url = bodies[rep.playlist_urls[0]]
        presentation = load_media_playlist(presentation, rep.id, data, url=final_url, now=now)
    return presentation


def run(args: argparse.Namespace) -> int:
    try:
        data, url, reader = _read_source(args)
        presentation = parse_manifest(data, url=url, now=time.time())
        if args.media and presentation.is_multivariant:
            presentation = _load_media(presentation, reader)
    except _ReadFailed as exc:
        return _fail(str(exc), exc.status)
    except ManifestError as exc:
        return _fail(f"{type(exc).__name__}: {exc}", 2)
    if args.json:
        print(json.dumps(presentation.to_json(), indent=2, ensure_ascii=False, allow_nan=False))
    else:
        print(presentation.summary())
    return 0
