"""``python -m player play <url>``: headless playback with a status line and QA reports."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import re
import sys
from pathlib import Path
from typing import Any

from player.cli._qa import play_to_report
from player.cli._report import (
    Thresholds,
    check_thresholds,
    dump_json,
    write_junit,
    write_plot,
)
from player.config import PlayerConfig
from player.errors import (
    AbrError,
    DrmError,
    ManifestError,
    PlayerConfigError,
    PlayerError,
    TransportError,
    UsageError,
)

_KEY = re.compile(r"^([0-9a-fA-F-]{32,36}):([0-9a-fA-F]{32})$")


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("play", help="play a stream headless and report on it")
    p.add_argument("url", help="manifest URL (http/https)")
    add_playback_arguments(p)
    p.set_defaults(func=run)


def add_playback_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--report", type=Path, help="write the JSON report (stats + event log)")
    p.add_argument("--junit", type=Path, help="write a JUnit XML pass/fail report")
    p.add_argument("--plot", type=Path, help="draw bitrate, buffer and throughput (PNG)")
    p.add_argument(
        "--keys", action="append", default=[], metavar="KID:KEY", help="ClearKey key (hex)"
    )
    p.add_argument("--license-url", help="ClearKey license server URL")
    p.add_argument(
        "--header",
        action="append",
        default=[],
        metavar="'Name: value'",
        help="license request header",
    )
    p.add_argument(
        "--cdn",
        action="append",
        default=[],
        metavar="URL",
        help="alternate origin serving the same paths",
    )
    p.add_argument("--ca", help="extra CA certificate (PEM), e.g. the lab's")
    p.add_argument("--protocol", choices=["h3", "h1", "auto"], default="auto")
    p.add_argument("--virtual-clock", action="store_true", help="play as fast as downloads allow")
    p.add_argument("--no-decode", action="store_true", help="download and decrypt only")
    p.add_argument("--hash-frames", action="store_true", help="hash every decoded video frame")
    p.add_argument(
        "--thumbnails", default="", metavar="S,S,...", help="save frames at these positions (s)"
    )
    p.add_argument("--thumbnail-dir", type=Path, help="folder for --thumbnails PNGs")
    p.add_argument("--start-at", type=float, default=None, metavar="S", help="start position (s)")
    p.add_argument(
        "--stop-after", type=float, default=None, metavar="S", help="stop after S s of session time"
    )
    p.add_argument("--audio-language", default=None)
    p.add_argument("--max-height", type=int, default=None, help="cap video height (pixels)")
    p.add_argument("--max-startup-s", type=float, default=None, help="fail if startup is slower")
    p.add_argument("--max-rebuffer-ratio", type=float, default=None, help="fail above this ratio")
    p.add_argument(
        "--max-decode-errors", type=int, default=0, help="fail above this many (default 0)"
    )
    p.add_argument(
        "--timeout", type=float, default=3600.0, help="give up after this many real seconds"
    )
    p.add_argument("--quiet", action="store_true", help="no live status line")


def parse_keys(values: list[str]) -> dict[str, str]:
    keys: dict[str, str] = {}
    for value in values:
        match = _KEY.match(value.strip())
        if not match:
            raise UsageError(f"--keys takes KID:KEY in hex, got {value.split(':')[0]}:...")
        keys[match.group(1).replace("-", "").lower()] = match.group(2).lower()
    return keys


def parse_headers(values: list[str]) -> dict[str, str]:
    headers: dict[str, str] = {}
    for value in values:
        name, sep, text = value.partition(":")
        if not sep or not name.strip():
            raise UsageError(f"--header takes 'Name: value', got {name!r}")
        headers[name.strip()] = text.strip()
    return headers


def config_from_args(args: argparse.Namespace, base: PlayerConfig | None = None) -> PlayerConfig:
    base = base or PlayerConfig()
    transport = dataclasses.replace(
        base.transport, protocol=args.protocol, ca_file=args.ca or base.transport.ca_file
    )
    drm = dataclasses.replace(
        base.drm,
        keys={**base.drm.keys, **parse_keys(args.keys)},
        license_url=args.license_url or base.drm.license_url,
        license_headers={**base.drm.license_headers, **parse_headers(args.header)},
    )
    playback = dataclasses.replace(
        base.playback,
        alternate_origins=tuple(base.playback.alternate_origins) + tuple(args.cdn),
        decode=not args.no_decode,
        hash_frames=args.hash_frames,
        thumbnails_at_s=parse_positions(args.thumbnails),
        thumbnail_dir=str(args.thumbnail_dir) if args.thumbnail_dir else None,
        audio_language=args.audio_language or base.playback.audio_language,
        max_video_height=args.max_height or base.playback.max_video_height,
    )
    return dataclasses.replace(base, transport=transport, drm=drm, playback=playback)


def parse_positions(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(part) for part in text.split(",") if part.strip())
    except ValueError as exc:
        raise UsageError(f"--thumbnails takes seconds separated by commas, got {text!r}") from exc


def thresholds_from_args(args: argparse.Namespace) -> Thresholds:
    return Thresholds(
        max_startup_s=args.max_startup_s,
        max_rebuffer_ratio=args.max_rebuffer_ratio,
        max_decode_errors=args.max_decode_errors,
        require_end=args.stop_after is None,
    )


def print_summary(report: dict[str, Any], checks: list[tuple[str, str | None]]) -> None:
    keys = (
        "final_state",
        "startup_s",
        "time_played_s",
        "rebuffer_ratio",
        "stall_count",
        "switch_count",
        "mean_bitrate_bps",
        "frames_decoded",
        "decode_errors",
        "license_latency_s",
        "failover_count",
        "bytes_by_protocol",
        "bytes_by_edge",
    )
    for key in keys:
        value = report.get(key)
        if isinstance(value, float):
            value = round(value, 4)
        print(f"{key:>18}: {value}")
    for name, failure in checks:
        verdict = "PASS" if failure is None else "FAIL"
        print(f"{verdict} {name}" + ("" if failure is None else f": {failure}"))


def write_outputs(
    args: argparse.Namespace, report: dict[str, Any], checks: list[tuple[str, str | None]]
) -> None:
    if args.report:
        dump_json(args.report, report)
    if args.junit:
        write_junit(args.junit, report, checks)
    if args.plot:
        write_plot(args.plot, report)


def run(args: argparse.Namespace) -> int:
    try:
        config = config_from_args(args)
        report = asyncio.run(
            play_to_report(
                args.url,
                config,
                virtual_clock=args.virtual_clock,
                start_at_s=args.start_at,
                stop_after_s=args.stop_after,
                timeout_s=args.timeout,
                show_status=not args.quiet,
            )
        )
    except (ManifestError, UsageError, PlayerConfigError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except (PlayerError, TransportError, DrmError, AbrError, TimeoutError) as exc:
        print(f"error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    checks = check_thresholds(report, thresholds_from_args(args))
    write_outputs(args, report, checks)
    print_summary(report, checks)
    return 0 if all(failure is None for _, failure in checks) else 1
