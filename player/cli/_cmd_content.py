"""``python -m player content make DIR``: QA content that stays replayable.

Encodes a ladder and audio with PyAV, packages it as fragmented MP4 (clear, ``cenc`` or
``cbcs`` ClearKey encryption through drm's packager), writes DASH and/or HLS manifests, a
``content.json`` description and, when encrypted, ``keys.json`` (the keys file that
``play --keys-file`` and ``license serve --keys-file`` read). Serve the folder with
``python -m transport lab --root DIR`` or play it from disk with ``play DIR/manifest.mpd``.
"""

from __future__ import annotations

import argparse
import json
import re
import secrets
from pathlib import Path
from typing import Any

from player.cli._args import (
    BadInput,
    fail,
    http_url,
    output_dir,
    positive_int,
)
from player.cli._cmd_play import parse_keys
from player.cli._keysfile import KEYS_FILE_NAME, write_keys_file
from player.errors import PlayerConfigError

__all__ = ["register"]

_RUNG = re.compile(r"^(\d{2,5})x(\d{2,5})@(\d+(?:\.\d+)?)([kKmM]?)$")
_DEFAULT_LADDER = "320x180@300k,480x270@700k,640x360@1400k,960x540@3000k"


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "content",
        help="make QA content: a ladder packaged as DASH/HLS, clear or encrypted, with keys",
        description="Make QA content that stays replayable.",
    )
    commands = parser.add_subparsers(dest="content_command", required=True, metavar="COMMAND")
    make = commands.add_parser(
        "make",
        help="encode, package and write manifests and a keys file into a folder",
        description=(
            "Encode a video ladder and AAC audio with PyAV (a test pattern and a tone), "
            "package it as fragmented MP4, clear or ClearKey-encrypted, and write DASH and/or "
            "HLS manifests, content.json and, when encrypted, keys.json (read by "
            "'play --keys-file' and 'license serve --keys-file'; keep it private). Serve the "
            "folder with 'python -m transport lab --root DIR', or play a manifest from disk."
        ),
        epilog="Exit status: 0 written, 2 bad input, 130 interrupted. See docs/qa.md.",
    )
    make.add_argument("folder", type=output_dir, metavar="DIR", help="output folder (created)")
    make.add_argument(
        "--format",
        choices=["dash", "hls", "both"],
        default="both",
        help="manifests to write (default both; the media files serve both)",
    )
    make.add_argument(
        "--encryption",
        choices=["none", "cenc", "cbcs"],
        default="none",
        help="ClearKey encryption scheme (default none)",
    )
    make.add_argument(
        "--duration",
        type=positive_int,
        default=30,
        metavar="S",
        help="clip length in seconds (default 30)",
    )
    make.add_argument(
        "--segment",
        type=positive_int,
        default=2,
        metavar="S",
        help="segment length in seconds (default 2)",
    )
    make.add_argument(
        "--ladder",
        default=_DEFAULT_LADDER,
        metavar="WxH@RATE,...",
        help=f"video rungs, bitrates in bit/s with k or M (default {_DEFAULT_LADDER})",
    )
    make.add_argument(
        "--audio-languages",
        default="en",
        metavar="LANG,...",
        help="one AAC track per language (default en)",
    )
    make.add_argument(
        "--keys",
        action="append",
        default=[],
        metavar="KID:KEY",
        help="use this key (32 hex digits each side) instead of a random one",
    )
    make.add_argument(
        "--license-url",
        type=http_url,
        metavar="URL",
        help="license server URL written into the DASH manifest (dashif:Laurl)",
    )
    make.set_defaults(func=_make, prog=make.prog)


def parse_ladder(text: str) -> tuple[Any, ...]:
    """Parse ``WxH@RATE,...`` into rendition specs, ascending by bitrate."""
    from player.lab import RenditionSpec

    rungs = []
    for number, item in enumerate(filter(None, (p.strip() for p in text.split(","))), 1):
        match = _RUNG.match(item)
        if not match:
            raise BadInput(
                f"--ladder rung {number} {item!r} is not WIDTHxHEIGHT@RATE (640x360@1.4M)"
            )
        width, height = int(match.group(1)), int(match.group(2))
        scale = {"": 1, "k": 1_000, "m": 1_000_000}[match.group(4).lower()]
        bitrate = int(float(match.group(3)) * scale)
        if width % 2 or height % 2 or bitrate < 10_000:
            raise BadInput(f"--ladder rung {item!r}: even sizes and at least 10k bit/s, please")
        rungs.append(
            RenditionSpec(id=f"v{height}", width=width, height=height, bitrate_bps=bitrate)
        )
    if not rungs:
        raise BadInput("--ladder needs at least one rung")
    ids = [r.id for r in rungs]
    if len(set(ids)) != len(ids):
        rungs = [
            RenditionSpec(
                id=f"v{r.height}-{r.bitrate_bps // 1000}k",
                width=r.width,
                height=r.height,
                bitrate_bps=r.bitrate_bps,
            )
            for r in rungs
        ]
    return tuple(sorted(rungs, key=lambda r: r.bitrate_bps))


def _languages(text: str) -> tuple[str, ...]:
    languages = tuple(part.strip() for part in text.split(",") if part.strip())
    if not languages or not all(
        re.fullmatch(r"[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*", x) for x in languages
    ):
        raise BadInput(f"--audio-languages takes language codes like en,fr, got {text!r}")
    return languages


def _make(args: argparse.Namespace) -> int:
    prog = args.prog
    from player.lab import ContentSpec, generate_content

    ladder = parse_ladder(args.ladder)
    languages = _languages(args.audio_languages)
    scheme = None if args.encryption == "none" else args.encryption
    keys = parse_keys(args.keys)
    if len(keys) > 1:
        raise BadInput("--keys: content make uses one key for every track; give one")
    if keys and scheme is None:
        raise BadInput("--keys needs --encryption cenc or cbcs")
    kid, key_hex = (
        next(iter(keys.items())) if keys else (secrets.token_hex(16), secrets.token_hex(16))
    )
    try:
        spec = ContentSpec(
            duration_s=args.duration,
            segment_s=args.segment,
            ladder=ladder,
            audio_languages=languages,
            scheme=scheme,
            kid_hex=kid if scheme else None,
            license_url=args.license_url,
        )
    except PlayerConfigError as exc:
        return fail(prog, exc)
    encrypt = None
    if scheme is not None:
        from drm import package_mp4

        key = bytes.fromhex(key_hex)

        def encrypt(data: bytes) -> bytes:
            return bytes(package_mp4(data, key_id=kid, key=key, scheme=scheme))

    formats = ("dash", "hls") if args.format == "both" else (args.format,)
    folder: Path = args.folder
    print(
        f"content: writing {args.duration} s of {args.encryption} content into {folder}", flush=True
    )
    info = generate_content(
        folder,
        spec,
        encrypt=encrypt,
        formats=formats,
        progress=lambda line: print(f"  {line}", flush=True),
    )
    keys_file = folder / KEYS_FILE_NAME
    if scheme is not None:
        write_keys_file(
            keys_file,
            {kid: key_hex},
            scheme=scheme,
            dash=info.dash_path or None,
            hls=info.hls_path or None,
        )
    _print_next_steps(info, keys_file if scheme else None)
    return 0


def _print_next_steps(info: Any, keys_file: Path | None) -> None:
    root = info.root
    manifests = [root / p for p in (info.dash_path, info.hls_path) if p]
    print(
        json.dumps(
            {
                "root": str(root),
                "manifests": [str(m) for m in manifests],
                "keys_file": str(keys_file) if keys_file else None,
            }
        )
    )
    keys = f" --keys-file {keys_file}" if keys_file else ""
    print(f"play from disk:   python -m player play {manifests[0]}{keys} --virtual-clock")
    print(f"serve it:         python -m transport lab --root {root}")
    if keys_file:
        print(f"license server:   python -m player license serve --keys-file {keys_file}")
