"""``python -m player demo``: the README's main command (see ``player.cli._demo``)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

from player.cli._cmd_play import print_summary
from player.cli._report import Thresholds, check_thresholds, dump_json, write_junit, write_plot


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "demo", help="build the lab, play an encrypted stream through a failover, report"
    )
    p.add_argument("--format", choices=["dash", "hls"], default="dash", dest="stream_format")
    p.add_argument("--scheme", choices=["cenc", "cbcs"], default="cenc")
    p.add_argument("--duration", type=int, default=60, help="clip length in seconds")
    p.add_argument("--real-clock", action="store_true", help="play in real time")
    p.add_argument("--report", type=Path, help="write the JSON report (play --report format)")
    p.add_argument("--junit", type=Path, help="write a JUnit XML pass/fail report")
    p.add_argument("--plot", type=Path, help="draw bitrate, buffer and throughput (PNG)")
    p.add_argument("--workdir", type=Path, help="keep content and certificates here")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.duration < 20:
        print("error: --duration must be at least 20 s", file=sys.stderr)
        return 2
    try:
        from player.cli._demo import DemoPlan, run_demo
    except ImportError as exc:
        print(
            f"error: the demo needs the lab extra (pip install 'streamsdk[lab]'): {exc}",
            file=sys.stderr,
        )
        return 2
    scale = args.duration / 60.0
    plan = DemoPlan(
        duration_s=args.duration,
        stream_format=args.stream_format,
        scheme=args.scheme,
        throttle_from_s=24.0 * scale,
        throttle_to_s=40.0 * scale,
        kill_edge_at_s=46.0 * scale,
        virtual_clock=not args.real_clock,
    )
    print(
        f"demo: {args.duration} s {args.scheme} ClearKey {args.stream_format.upper()} ladder, "
        "2 CDN edges + origin over HTTP/3 and HTTP/1.1, license server, session service, "
        "network emulator",
        flush=True,
    )
    report = asyncio.run(run_demo(plan, workdir=args.workdir))
    checks = check_thresholds(report, Thresholds(max_decode_errors=0))
    checks.append(("failover_seen", None if report.get("failover_count", 0) > 0 else "no failover"))
    checks.append(
        ("license_acquired", None if report.get("license_requests", 0) > 0 else "no license")
    )
    beats = sum(1 for e in report["events"] if e["type"] == "HeartbeatSent")
    if args.report:
        dump_json(args.report, report)
    if args.junit:
        write_junit(args.junit, report, checks)
    if args.plot:
        write_plot(args.plot, report)
    for action in report["demo"]["actions"]:
        print(f"  buffer reached {action['frontier_s']:5.1f}s of media: {action['action']}")
    for event in report["events"]:
        if event["type"] in (
            "VariantSwitched",
            "EdgeFailedOver",
            "LicenseAcquired",
            "BufferingStarted",
        ):
            detail = {k: v for k, v in event.items() if k not in ("type", "at_s")}
            print(f"  {event['type']}: {detail}")
    print(f"  heartbeats delivered to the session service: {beats}")
    print_summary(report, checks)
    return 0 if all(failure is None for _, failure in checks) else 1
