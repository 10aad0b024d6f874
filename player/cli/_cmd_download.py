"""``python -m player download URL --out DIR``: keep a VOD stream for offline playback.

Downloads the chosen renditions through the SDK's transport, stores the ClearKey
persistent license (or the keys given) with them, and writes a local manifest that
``python -m player play DIR/manifest.mpd`` (or ``.m3u8``) plays without the network. Running
the same command again continues an interrupted download (docs/offline.md).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import math
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from player.cli._args import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_USAGE,
    BadInput,
    fail,
    http_url,
    on_sigint,
    output_dir,
    positive_int,
)
from player.cli._cmd_play import (
    add_key_arguments,
    add_network_arguments,
    parse_headers,
    parse_keys,
)
from player.cli._keysfile import key_sets_from_args
from player.cli._local import ca_bundle
from player.config import PlayerConfig
from player.errors import (
    SDK_ERRORS,
    ManifestError,
    PlayerConfigError,
    UsageError,
)
from player.events import Event
from player.offline import (
    DownloadCompleted,
    Downloader,
    DownloadProgressed,
    DownloadResult,
    DownloadStarted,
    LicenseStored,
)

__all__ = ["register"]


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "download",
        help="download a VOD stream to a folder for offline playback",
        description=(
            "Download an HLS or DASH VOD stream for offline playback: the chosen video, audio "
            "and text renditions (init and media segments, byte ranges included) through the "
            "SDK's transport, the ClearKey persistent license of encrypted content, and a "
            "local manifest of the same format. Run the same command again to continue an "
            "interrupted download: finished files are checked and kept. Free space is checked "
            "before anything is fetched."
        ),
        epilog=(
            "Play it with: python -m player play DIR/manifest.mpd (or manifest.m3u8); no "
            "network is needed. Exit status: 0 done, 1 the download failed (disk full, a "
            "license refused, every CDN location failed), 2 bad input, 130 interrupted "
            "(Ctrl-C keeps what is done). See docs/offline.md."
        ),
    )
    p.add_argument("url", type=http_url, metavar="URL", help="manifest URL (http or https)")
    p.add_argument(
        "--out",
        type=output_dir,
        required=True,
        metavar="DIR",
        help="download folder (created; the same folder continues an interrupted download)",
    )
    pick = p.add_argument_group("what to download")
    pick.add_argument(
        "--max-height",
        type=positive_int,
        metavar="PX",
        help="the highest video rendition no taller than this (default: the highest)",
    )
    pick.add_argument(
        "--max-bitrate",
        type=positive_int,
        metavar="BPS",
        help="the highest video rendition at or below this many bits per second",
    )
    pick.add_argument(
        "--all-renditions",
        action="store_true",
        help="keep every video rendition within the limits, not only the highest",
    )
    pick.add_argument(
        "--max-size",
        type=byte_size,
        metavar="SIZE",
        help="disk budget of the download, e.g. 800M or 2G (powers of 1000); refused before "
        "anything is fetched when the estimate is over it",
    )
    pick.add_argument("--audio-language", metavar="LANG", help="audio language, e.g. en")
    pick.add_argument("--text-language", metavar="LANG", help="subtitle language, e.g. fr")
    add_key_arguments(
        p,
        license_help="ClearKey license server asked for a persistent license (overrides the "
        "manifest's)",
    )
    add_network_arguments(p)
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    p.set_defaults(func=run, prog=p.prog)


_UNITS = {"": 1, "K": 10**3, "M": 10**6, "G": 10**9, "T": 10**12}


def byte_size(text: str) -> int:
    """A size in bytes: a number with an optional ``k``, ``M``, ``G`` or ``T`` (and ``B``).

    >>> byte_size("800M"), byte_size("1.5G"), byte_size("4096"), byte_size("2kB")
    (800000000, 1500000000, 4096, 2000)
    """
    body = text.strip().upper().removesuffix("B")
    unit = body[-1:] if body[-1:] in _UNITS else ""
    try:
        value = float(body[: len(body) - len(unit)])
        if not math.isfinite(value):
            raise ValueError(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a size (bytes, or a number with k, M, G or T: 800M, 2G)"
        ) from None
    size = round(value * _UNITS[unit])
    if not size >= 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be at least 1 byte")
    return size


def config_from_args(args: argparse.Namespace, *, ca_file: str | None) -> PlayerConfig:
    """The configuration the options ask for."""
    base = PlayerConfig()
    given = key_sets_from_args(
        parse_keys(args.keys), args.hls_key, args.keys_file, manifest_url=args.url
    )
    return dataclasses.replace(
        base,
        transport=dataclasses.replace(base.transport, protocol=args.protocol, ca_file=ca_file),
        drm=dataclasses.replace(
            base.drm,
            keys=given.keys,
            hls_keys=given.hls_keys,
            license_url=args.license_url,
            license_headers=parse_headers(args.header),
        ),
        offline=dataclasses.replace(base.offline, max_bytes=args.max_size),
        playback=dataclasses.replace(
            base.playback,
            max_video_height=args.max_height,
            max_video_bitrate_bps=args.max_bitrate,
            audio_language=args.audio_language,
            text_language=args.text_language,
            alternate_origins=tuple(args.cdn),
        ),
    )


def run(args: argparse.Namespace) -> int:
    prog = args.prog
    out: Path = args.out
    try:
        with tempfile.TemporaryDirectory(prefix="streamsdk-") as tmp:
            config = config_from_args(args, ca_file=ca_bundle(list(args.ca), Path(tmp)))
            outcome = asyncio.run(_download(args, config))
    except (BadInput, ManifestError, UsageError, PlayerConfigError, ValueError) as exc:
        return fail(prog, exc, EXIT_USAGE)
    except SDK_ERRORS as exc:
        return fail(
            prog,
            f"{type(exc).__name__}: {exc} (files already complete are kept: run the same "
            "command again to continue)",
            EXIT_FAILED,
        )
    if outcome is None:
        return fail(
            prog,
            f"interrupted (Ctrl-C): the files already complete are kept in {out}; run the "
            "same command again to continue",
            EXIT_INTERRUPTED,
        )
    _summary(outcome)
    return 0


async def _download(args: argparse.Namespace, config: PlayerConfig) -> DownloadResult | None:
    stop = asyncio.Event()
    undo = on_sigint(stop)
    try:
        async with Downloader(config) as downloader:
            if not args.quiet:
                downloader.add_listener(_Printer().on_event)
            work = asyncio.ensure_future(
                downloader.download(args.url, args.out, all_video_renditions=args.all_renditions)
            )
            stopper = asyncio.ensure_future(stop.wait())
            try:
                await asyncio.wait({work, stopper}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                stopper.cancel()
            if work.done():
                return work.result()
            work.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await work
            return None
    finally:
        undo()


class _Printer:
    """Progress lines on stderr: the start, every tenth of the bytes, the license, the end."""

    def __init__(self) -> None:
        self._next_tenth = 1

    def on_event(self, event: Event) -> None:
        if isinstance(event, DownloadStarted):
            _say(
                f"downloading {len(event.tracks)} renditions ({', '.join(event.tracks)}): "
                f"{event.files_total} files, about {event.bytes_estimate / 1e6:.1f} MB"
                + (
                    f"; {event.files_present} files ({event.bytes_present / 1e6:.1f} MB) "
                    "already there"
                    if event.files_present
                    else ""
                )
            )
        elif isinstance(event, DownloadProgressed):
            share = event.total_bytes_done / max(event.total_bytes_estimate, 1)
            if share * 10 >= self._next_tenth or event.files_done == event.files_total:
                self._next_tenth = int(share * 10) + 1
                _say(
                    f"{event.files_done}/{event.files_total} files, "
                    f"{event.total_bytes_done / 1e6:.1f} MB ({share:.0%})"
                )
        elif isinstance(event, LicenseStored):
            expiry = _expiry(event.expires_at_s)
            how = "kept from before" if event.is_reused else f"from {event.source}"
            _say(f"license for {len(event.kids)} KIDs stored ({how}, {expiry})")
        elif isinstance(event, DownloadCompleted):
            _say(f"done in {event.at_s:.1f} s: {event.manifest}")


def _say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _summary(result: DownloadResult) -> None:
    print(f"manifest: {result.manifest_path}")
    print(f"files: {result.files} ({result.files_kept} kept from a previous run)")
    print(f"on disk: {result.bytes_on_disk} bytes; fetched now: {result.bytes_fetched} bytes")
    if result.license is not None:
        print(f"license: {_expiry(result.license.expires_at_s)}")
    print(f"play with: python -m player play {result.manifest_path}")


def _expiry(at_s: float | None) -> str:
    if at_s is None:
        return "no expiry"
    return time.strftime("expires %Y-%m-%d %H:%M:%S UTC", time.gmtime(at_s))
