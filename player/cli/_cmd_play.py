"""``python -m player play <url>``: headless playback with a status line and QA reports."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import os
import re
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from player.cli._args import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_USAGE,
    BadInput,
    fail,
    http_url,
    input_file,
    non_negative_float,
    non_negative_int,
    on_sigint,
    output_dir,
    output_file,
    pem_file,
    positive_float,
    positive_int,
    ratio,
)
from player.cli._keysfile import add_hls_key_argument, key_sets_from_args
from player.cli._local import ca_bundle, local_manifest, serve_folder
from player.cli._qa import play_to_report
from player.cli._report import (
    CheckResult,
    Thresholds,
    add_verdict,
    dump_json,
    evaluate_checks,
    write_junit,
    write_plot,
)
from player.cli._text_checks import add_text_arguments, text_language
from player.cli._thumbnail_export import (
    add_thumbnail_arguments,
    thumbnail_options,
    thumbnail_summary,
)
from player.config import HeartbeatConfig, PlayerConfig
from player.errors import (
    AbrError,
    DownloadStateError,
    DrmError,
    ManifestError,
    PlayerConfigError,
    PlayerError,
    TransportError,
    UsageError,
)
from player.offline import OfflineDownload

_KEY = re.compile(r"^([0-9a-fA-F-]{32,36}):([0-9a-fA-F]{32})$")
_ID = re.compile(r"[A-Za-z0-9._:@-]{1,128}")
_ID_CHARS = re.compile(r"[^A-Za-z0-9._:@-]+")
HEARTBEAT_TOKEN_ENV = "STREAMSDK_HEARTBEAT_TOKEN"


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "play",
        help="play a stream headless and report on it (QA)",
        description=(
            "Play an HLS or DASH stream headless, as a real client would (ABR, failover, "
            "ClearKey, decoding), show a live status line, and report: a summary with "
            "PASS/FAIL checks, and optionally a JSON report, a JUnit file and a plot. "
            "A local manifest file is served from its folder over loopback HTTPS and played "
            "the same way."
        ),
        epilog=(
            "Exit status: 0 every check passed, 1 a check or playback failed, 2 bad input, "
            "130 interrupted (Ctrl-C writes the partial report with final_state "
            "'interrupted'). See docs/qa.md."
        ),
    )
    p.add_argument(
        "url",
        metavar="MANIFEST",
        help="manifest to play: an http(s) URL, or a local .mpd/.m3u8 file (or file:// URL)",
    )
    add_playback_arguments(p)
    offline = p.add_argument_group("offline playback (docs/offline.md)")
    offline.add_argument(
        "--offline-license",
        type=input_file,
        metavar="FILE",
        help="play a download with this stored license instead of the one in its folder",
    )
    p.set_defaults(func=run, prog=p.prog)


def add_report_arguments(p: argparse.ArgumentParser) -> None:
    """``--report``, ``--junit``, ``--plot`` and ``--quiet`` (play and demo; ``write_outputs``)."""
    out = p.add_argument_group("reports (folders are created before playback starts)")
    out.add_argument(
        "--report",
        type=output_file,
        metavar="FILE",
        help="write the JSON report: stats, events, timeline, checks and verdict",
    )
    out.add_argument(
        "--junit",
        type=output_file,
        metavar="FILE",
        help="write a JUnit XML file, one test case per check",
    )
    out.add_argument(
        "--plot",
        type=output_file,
        metavar="FILE",
        help="draw bitrate, buffer and throughput over time (PNG; needs the plots extra)",
    )
    out.add_argument("--quiet", action="store_true", help="no live status line")


def add_playback_arguments(p: argparse.ArgumentParser) -> None:
    add_report_arguments(p)
    add_key_arguments(p, license_help="ClearKey license server URL (overrides the manifest's)")
    add_network_arguments(p)
    cmcd = p.add_argument_group("Common Media Client Data (CTA-5004) sent to the CDN")
    cmcd.add_argument(
        "--cmcd",
        choices=["query", "header"],
        default=None,
        help="send CMCD with every request, as a CMCD= query argument or as CMCD-* headers "
        "(default: off)",
    )
    cmcd.add_argument(
        "--cmcd-version", type=int, choices=[1, 2], default=None, help="CMCD version (default 2)"
    )
    cmcd.add_argument("--cmcd-content-id", metavar="ID", help="content id sent as cid")
    cmcd.add_argument(
        "--cmcd-session-id", metavar="ID", help="session id sent as sid (default: a random UUID)"
    )
    run_group = p.add_argument_group("playback")
    run_group.add_argument(
        "--virtual-clock",
        action="store_true",
        help="play as fast as downloads and decoding allow (times stay true to transfers)",
    )
    run_group.add_argument(
        "--no-decode", action="store_true", help="download and decrypt only, do not decode"
    )
    run_group.add_argument(
        "--hash-frames", action="store_true", help="hash every decoded video frame"
    )
    run_group.add_argument(
        "--thumbnails",
        default="",
        metavar="S,S,...",
        help="save a PNG of the frame at these positions (seconds)",
    )
    run_group.add_argument(
        "--thumbnail-dir",
        type=output_dir,
        metavar="DIR",
        help="folder for --thumbnails (created if missing)",
    )
    run_group.add_argument(
        "--start-at",
        type=non_negative_float,
        default=None,
        metavar="S",
        help="start position, seconds",
    )
    run_group.add_argument(
        "--stop-after",
        type=positive_float,
        default=None,
        metavar="S",
        help="stop after S seconds of playback session time",
    )
    run_group.add_argument(
        "--audio-language", default=None, metavar="LANG", help="preferred audio language, e.g. en"
    )
    run_group.add_argument(
        "--max-height",
        type=positive_int,
        default=None,
        metavar="PX",
        help="never choose video taller than this",
    )
    run_group.add_argument(
        "--timeout",
        type=positive_float,
        default=3600.0,
        metavar="S",
        help="give up after this many real seconds (default 3600)",
    )
    add_text_arguments(p)
    add_thumbnail_arguments(p)
    checks = p.add_argument_group("checks (PASS/FAIL lines, JUnit test cases)")
    checks.add_argument(
        "--max-startup-s",
        type=positive_float,
        default=None,
        metavar="S",
        help="fail if startup takes longer",
    )
    checks.add_argument(
        "--max-rebuffer-ratio",
        type=ratio,
        default=None,
        metavar="R",
        help="fail if the share of time spent stalled is above R (0 to 1)",
    )
    checks.add_argument(
        "--max-decode-errors",
        type=non_negative_int,
        default=0,
        metavar="N",
        help="fail above N decode errors (default 0)",
    )
    checks.add_argument(
        "--require-all-keys",
        action="store_true",
        help="fail when the license server refuses the keys of any rendition (by default "
        "those renditions leave the ladder and only a track left with none fails)",
    )
    beats = p.add_argument_group(
        "continue-watching (position heartbeats to a session service, e.g. sessions serve)"
    )
    beats.add_argument(
        "--heartbeat-url", type=http_url, metavar="URL", help="session service base URL"
    )
    beats.add_argument(
        "--viewer", metavar="ID", help="viewer the heartbeats are for (needed with --heartbeat-url)"
    )
    beats.add_argument(
        "--heartbeat-token",
        metavar="TOKEN",
        help=f"bearer token of the viewer (or set {HEARTBEAT_TOKEN_ENV}, which keeps it out of ps)",
    )
    beats.add_argument(
        "--title", metavar="ID", help="title id reported (default: made from the manifest's path)"
    )
    beats.add_argument("--device", metavar="ID", help="device id reported (default: a random one)")
    beats.add_argument(
        "--resume", action="store_true", help="start where this viewer last stopped this title"
    )
    beats.add_argument(
        "--outbox",
        type=output_file,
        metavar="FILE",
        help="keep undelivered heartbeats in this SQLite file for the next run (default: memory)",
    )


def add_key_arguments(p: argparse.ArgumentParser, *, license_help: str) -> None:
    """The key and license options (play, download): keys, HLS keys, keys file, license."""
    drm = p.add_argument_group("encrypted content (ClearKey, HLS AES)")
    drm.add_argument(
        "--keys",
        action="append",
        default=[],
        metavar="KID:KEY",
        help="a content key as 32 hex digits each side; repeat for several",
    )
    add_hls_key_argument(drm)
    drm.add_argument(
        "--keys-file",
        type=input_file,
        metavar="FILE",
        help="content keys ('keys') and HLS keys ('hls_keys') from a keys file (content make "
        "writes one)",
    )
    drm.add_argument("--license-url", type=http_url, metavar="URL", help=license_help)
    drm.add_argument(
        "--header",
        action="append",
        default=[],
        metavar="'NAME: VALUE'",
        help="header sent with license requests, e.g. 'Authorization: Bearer T'; repeatable",
    )


def add_network_arguments(p: argparse.ArgumentParser) -> None:
    """``--cdn``, ``--ca`` and ``--protocol`` (play, download)."""
    net = p.add_argument_group("network")
    net.add_argument(
        "--cdn",
        action="append",
        default=[],
        type=http_url,
        metavar="URL",
        help="another origin serving the same paths, tried in order on failure; repeatable",
    )
    net.add_argument(
        "--ca",
        action="append",
        default=[],
        type=pem_file,
        metavar="FILE",
        help="also trust this CA certificate (PEM), e.g. the lab's; repeatable",
    )
    net.add_argument(
        "--protocol",
        choices=["h3", "h1", "auto"],
        default="auto",
        help="HTTP/3 only, HTTP/1.1-2 only, or HTTP/3 with fallback (default auto)",
    )


def parse_keys(values: list[str]) -> dict[str, str]:
    keys: dict[str, str] = {}
    for number, value in enumerate(values, start=1):
        match = _KEY.match(value.strip())
        if not match:
            # Never echo the value: it may hold a key.
            raise BadInput(
                f"--keys value {number} is not KID:KEY with 32 hex digits on each side "
                "(the value is not shown: it may hold a key)"
            )
        keys[match.group(1).replace("-", "").lower()] = match.group(2).lower()
    return keys


def parse_headers(values: list[str]) -> dict[str, str]:
    headers: dict[str, str] = {}
    for number, value in enumerate(values, start=1):
        name, sep, text = value.partition(":")
        if not sep or not name.strip() or any(c.isspace() for c in name.strip()):
            raise BadInput(f"--header value {number} is not 'Name: value'")
        headers[name.strip()] = text.strip()
    return headers


def config_from_args(
    args: argparse.Namespace,
    base: PlayerConfig | None = None,
    *,
    ca_file: str | None = None,
    manifest_url: str,
) -> PlayerConfig:
    """Return the configuration the options ask for.

    Relative HLS key URIs are taken against ``manifest_url`` (for a manifest on disk, the
    loopback URL it is served at).
    """
    base = base or PlayerConfig()
    transport = dataclasses.replace(
        base.transport, protocol=args.protocol, ca_file=ca_file or base.transport.ca_file
    )
    given = key_sets_from_args(
        parse_keys(args.keys), args.hls_key, args.keys_file, manifest_url=manifest_url
    )
    drm = dataclasses.replace(
        base.drm,
        keys={**base.drm.keys, **given.keys},
        hls_keys={**base.drm.hls_keys, **given.hls_keys},
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
        text_language=text_language(args) or base.playback.text_language,
    )
    cmcd = dataclasses.replace(
        base.cmcd,
        mode=args.cmcd or base.cmcd.mode,
        version=args.cmcd_version or base.cmcd.version,
        content_id=args.cmcd_content_id or base.cmcd.content_id,
        session_id=args.cmcd_session_id or base.cmcd.session_id,
    )
    return dataclasses.replace(
        base,
        transport=transport,
        drm=drm,
        playback=playback,
        heartbeat=heartbeat_config(args, base.heartbeat),
        cmcd=cmcd,
    )


def heartbeat_config(args: argparse.Namespace, base: HeartbeatConfig) -> HeartbeatConfig:
    """The heartbeat section the continue-watching options ask for."""
    token = args.heartbeat_token or os.environ.get(HEARTBEAT_TOKEN_ENV)
    if args.heartbeat_url is None:
        if args.viewer or args.resume or token:
            raise BadInput("--viewer, --heartbeat-token and --resume need --heartbeat-url")
        return base
    if not args.viewer:
        raise BadInput("--heartbeat-url needs --viewer (the viewer the heartbeats are for)")
    headers = {**base.headers, **({"Authorization": f"Bearer {token}"} if token else {})}
    return dataclasses.replace(
        base,
        service_url=args.heartbeat_url.rstrip("/"),
        headers=headers,
        outbox_path=str(args.outbox) if args.outbox else base.outbox_path,
    )


def identity_from_args(args: argparse.Namespace, source: str) -> dict[str, str] | None:
    """Viewer, title and device ids for heartbeats (``None`` without --heartbeat-url)."""
    if args.heartbeat_url is None:
        return None
    path = urlsplit(source).path if "://" in source else source
    title = args.title or _ID_CHARS.sub("_", path.strip("/"))[-128:] or "title"
    identity = {"viewer_id": args.viewer, "title_id": title}
    if args.device:
        identity["device_id"] = args.device
    for flag, value in (("--viewer", args.viewer), ("--title", title), ("--device", args.device)):
        if value is not None and not _ID.fullmatch(value):
            raise BadInput(f"{flag} {value!r} is not 1-128 characters of A-Z a-z 0-9 . _ : @ -")
    return identity


def parse_positions(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(part) for part in text.split(",") if part.strip())
    except ValueError as exc:
        raise BadInput(f"--thumbnails takes seconds separated by commas, got {text!r}") from exc


def thresholds_from_args(args: argparse.Namespace) -> Thresholds:
    return Thresholds(
        max_startup_s=args.max_startup_s,
        max_rebuffer_ratio=args.max_rebuffer_ratio,
        max_decode_errors=args.max_decode_errors,
        require_end=args.stop_after is None,
        expected_cues=tuple(getattr(args, "expect_cue_at", None) or ()),
        min_subtitle_coverage=getattr(args, "min_subtitle_coverage", None),
        require_all_keys=getattr(args, "require_all_keys", False),
    )


def print_summary(report: dict[str, Any], checks: Sequence[CheckResult]) -> None:
    keys: tuple[str, ...] = (
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
    if report.get("text"):
        keys += ("subtitle_cues", "subtitle_coverage")
    for key in keys:
        value = report.get(key)
        if isinstance(value, float):
            value = round(value, 4)
        print(f"{key:>18}: {value}")
    if isinstance(report.get("thumbnails"), dict):
        print(f"{'thumbnails':>18}: {thumbnail_summary(report['thumbnails'])}")
    for check in checks:
        verdict = "PASS" if check.passed else "FAIL"
        print(f"{verdict} {check.name}" + ("" if check.passed else f": {check.message}"))


def write_outputs(
    args: argparse.Namespace, report: dict[str, Any], checks: Sequence[CheckResult]
) -> None:
    add_verdict(report, checks)
    if args.report:
        dump_json(args.report, report)
    if args.junit:
        write_junit(args.junit, report, checks)
    if args.plot:
        write_plot(args.plot, report)


def require_plotting(args: argparse.Namespace) -> None:
    """Check that --plot can be drawn before any work starts (and load matplotlib now)."""
    if getattr(args, "plot", None) is None:
        return
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot  # noqa: F401 - loaded now so a Ctrl-C still plots quickly
    except ImportError as exc:
        raise BadInput(f"--plot needs matplotlib (pip install 'streamsdk[plots]'): {exc}") from exc


def run(args: argparse.Namespace) -> int:
    prog = args.prog
    local: Path | None = None
    served = ""
    try:
        local = local_manifest(args.url)
        download = _download_of(local, getattr(args, "offline_license", None))
        # a download reports under the title of its source: resume works across devices
        identity = identity_from_args(args, download.source_url if download else args.url)
        thumbnail_options(args)  # bad input before anything starts
        require_plotting(args)
        with contextlib.ExitStack() as stack:
            url, cas = args.url, list(args.ca)
            if download is not None:  # a download: served without its store (the license)
                url, lab_ca = dataclasses.astuple(stack.enter_context(download.serve()))
                cas.append(lab_ca)
                served = url
            elif local is not None:
                url, lab_ca = stack.enter_context(serve_folder(local))
                cas.append(lab_ca)
                served = url
            folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="streamsdk-")))
            config = config_from_args(args, ca_file=ca_bundle(cas, folder), manifest_url=url)
            if download is not None:  # the stored license's keys, once its expiry is checked
                config = download.player_config(config, now=time.time())
            extra = {"local_file": str(local)} if local is not None else None
            report = asyncio.run(_play(url, config, args, identity=identity, extra=extra))
    except (BadInput, ManifestError, UsageError, PlayerConfigError, ValueError) as exc:
        return fail(prog, _as_given(str(exc), served, local), EXIT_USAGE)
    except (PlayerError, TransportError, DrmError, AbrError) as exc:
        return fail(prog, _as_given(f"{type(exc).__name__}: {exc}", served, local), EXIT_FAILED)
    except TimeoutError as exc:
        return fail(prog, exc, EXIT_FAILED)
    checks = evaluate_checks(report, thresholds_from_args(args))
    write_outputs(args, report, checks)
    print_summary(report, checks)
    if report.get("final_state") == "interrupted":
        return fail(prog, "interrupted (Ctrl-C); partial results written", EXIT_INTERRUPTED)
    return 0 if all(check.passed for check in checks) else 1


def _download_of(local: Path | None, license_file: Path | None) -> OfflineDownload | None:
    """The download a local manifest belongs to (``python -m player download``), if any."""
    try:
        download = OfflineDownload.find(local, license_file=license_file) if local else None
    except DownloadStateError as exc:
        if license_file is not None and exc.path == str(license_file):
            raise BadInput(f"--offline-license {license_file}: {exc}") from exc
        raise
    if license_file is not None and download is None:
        raise BadInput("--offline-license needs a manifest written by python -m player download")
    return download


def _as_given(message: str, served: str, local: Path | None) -> str:
    """Name a local manifest by its path, not by the loopback URL it was served at."""
    return message.replace(served, str(local)) if served and local is not None else message


async def _play(
    url: str,
    config: PlayerConfig,
    args: argparse.Namespace,
    *,
    identity: dict[str, str] | None,
    extra: dict[str, Any] | None,
) -> dict[str, Any]:
    stop = asyncio.Event()
    undo = on_sigint(stop)
    try:
        return await play_to_report(
            url,
            config,
            virtual_clock=args.virtual_clock,
            start_at_s=args.start_at,
            stop_after_s=args.stop_after,
            timeout_s=args.timeout,
            show_status=not args.quiet,
            identity=identity,
            resume=args.resume,
            extra=extra,
            stop=stop,
            **thumbnail_options(args),
        )
    finally:
        undo()
