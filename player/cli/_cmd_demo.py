"""``python -m player demo``: the README's main command (see ``player.cli._demo``)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import tempfile
import time
from pathlib import Path
from typing import Any

from player._stats import PlaybackStats
from player.cli._args import (
    EXIT_INTERRUPTED,
    EXIT_USAGE,
    BadInput,
    fail,
    on_sigint,
    output_dir,
)
from player.cli._cmd_play import (
    add_report_arguments,
    print_summary,
    require_plotting,
    write_outputs,
)
from player.cli._report import (
    CheckResult,
    Thresholds,
    build_report,
    evaluate_checks,
)

_MIN_DURATION_S = 20


def _duration(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of seconds") from None
    if value < _MIN_DURATION_S:
        raise argparse.ArgumentTypeError(f"must be at least {_MIN_DURATION_S} s, got {value}")
    return value


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "demo",
        help="the whole lab end to end: encrypted stream, throttle, failover, report",
        description=(
            "Build a ClearKey-encrypted ladder with PyAV, start the lab on loopback (two CDN "
            "edges and an origin over HTTP/3 and HTTP/1.1-2, a license server, a session "
            "service, a network emulator), play the stream headless with decoding while the "
            "network is throttled and the primary edge dies, and print the QA report."
        ),
        epilog=(
            "Exit status: 0 every check passed, 1 a check failed, 2 bad input, 130 interrupted "
            "(Ctrl-C writes the partial report). Needs the lab extra. See docs/qa.md."
        ),
    )
    p.add_argument(
        "--format",
        choices=["dash", "hls"],
        default="dash",
        dest="stream_format",
        help="manifest to play (default dash)",
    )
    p.add_argument(
        "--scheme", choices=["cenc", "cbcs"], default="cenc", help="encryption (default cenc)"
    )
    p.add_argument(
        "--duration",
        type=_duration,
        default=60,
        metavar="S",
        help=f"clip length in seconds (default 60, at least {_MIN_DURATION_S})",
    )
    p.add_argument(
        "--real-clock",
        action="store_true",
        help="play in real time (default: as fast as downloads and decoding allow)",
    )
    p.add_argument(
        "--workdir",
        type=output_dir,
        metavar="DIR",
        help="keep the content, its keys file (content/keys.json) and certificates here",
    )
    add_report_arguments(p)
    p.set_defaults(func=run, prog=p.prog)


def _plan(args: argparse.Namespace) -> Any:
    from player.cli._demo import DemoPlan

    scale = args.duration / 60.0
    return DemoPlan(
        duration_s=args.duration,
        stream_format=args.stream_format,
        scheme=args.scheme,
        throttle_from_s=24.0 * scale,
        throttle_to_s=40.0 * scale,
        kill_edge_at_s=46.0 * scale,
        virtual_clock=not args.real_clock,
    )


def run(args: argparse.Namespace) -> int:
    prog = args.prog
    try:
        from player.cli._demo import DemoLab
    except ImportError as exc:
        return fail(prog, f"the demo needs the lab extra (pip install 'streamsdk[lab]'): {exc}")
    try:
        require_plotting(args)
    except BadInput as exc:
        return fail(prog, exc, EXIT_USAGE)
    plan = _plan(args)
    clock = "in real time" if args.real_clock else "on the virtual clock"
    print(
        f"demo: a {plan.duration_s} s {plan.scheme} ClearKey {plan.stream_format.upper()} "
        f"ladder played {clock} through 2 CDN edges + origin (HTTP/3 and HTTP/1.1), a license "
        "server, a session service and a network emulator; the primary path is throttled to "
        f"{plan.throttle_bps / 1e6:.1f} Mbit/s while the buffer fills from "
        f"{plan.throttle_from_s:.0f} s to {plan.throttle_to_s:.0f} s of media, then killed at "
        f"{plan.kill_edge_at_s:.0f} s",
        flush=True,
    )
    with contextlib.ExitStack() as stack:
        root = args.workdir or Path(
            stack.enter_context(tempfile.TemporaryDirectory(prefix="streamsdk-demo-"))
        )
        lab = stack.enter_context(DemoLab(plan, root))
        started = time.monotonic()
        print(f"demo: building the content in {root / 'content'}", flush=True)
        try:
            content = lab.build_content(progress=lambda line: print(f"  {line}", flush=True))
        except KeyboardInterrupt:
            report = _unplayed_report(plan, "interrupted while building the content")
            interrupted = CheckResult(
                name="playback_completed", message="interrupted", value="interrupted"
            )
            write_outputs(args, report, [interrupted])
            return fail(prog, "interrupted (Ctrl-C) while building the content", EXIT_INTERRUPTED)
        print(f"demo: content ready in {time.monotonic() - started:.1f} s", flush=True)
        if args.workdir is not None:
            print(
                f"demo: keys in {lab.keys_file} (replay with: python -m player play "
                f"{content.root / content.dash_path} --keys-file {lab.keys_file})",
                flush=True,
            )
        print("demo: playing", flush=True)
        report = asyncio.run(_play(lab, quiet=args.quiet))
    checks = evaluate_checks(report, Thresholds(max_decode_errors=0))
    failovers, licenses = report.get("failover_count", 0), report.get("license_requests", 0)
    for name, count, missing in (
        ("failover_seen", failovers, "no failover"),
        ("license_acquired", licenses, "no license"),
    ):
        message = None if count > 0 else missing
        checks.append(CheckResult(name=name, message=message, value=count, limit=1))
    beats = sum(1 for e in report["events"] if e["type"] == "HeartbeatSent")
    write_outputs(args, report, checks)
    _print_story(report, plan)
    print(f"  heartbeats delivered to the session service: {beats}")
    print_summary(report, checks)
    if report.get("final_state") == "interrupted":
        return fail(prog, "interrupted (Ctrl-C); partial results written", EXIT_INTERRUPTED)
    return 0 if all(check.passed for check in checks) else 1


async def _play(lab: Any, *, quiet: bool) -> dict[str, Any]:
    stop = asyncio.Event()
    undo = on_sigint(stop)
    try:
        report: dict[str, Any] = await lab.play(stop=stop, show_status=not quiet)
        return report
    finally:
        undo()


def _unplayed_report(plan: Any, why: str) -> dict[str, Any]:
    import dataclasses

    return build_report(
        url="",
        final_state="interrupted",
        stats=PlaybackStats().to_json(),
        events=[],
        timeline=[],
        extra={"demo": {"plan": dataclasses.asdict(plan), "actions": [], "note": why}},
    )


_ACTIONS = {
    "throttle": "throttle the primary path to {rate}",
    "unthrottle": "lift the throttle",
    "kill_primary_edge": "kill the primary edge and its relay",
}


def _print_story(report: dict[str, Any], plan: Any) -> None:
    for action in report.get("demo", {}).get("actions", []):
        rate = f"{action.get('rate_bps', plan.throttle_bps) / 1e6:.1f} Mbit/s"
        what = _ACTIONS.get(action["action"], action["action"]).format(rate=rate)
        print(f"  buffer reached {action['frontier_s']:5.1f} s of media: {what}")
    for event in report.get("events", []):
        line = _event_line(event)
        if line:
            print(f"  {event['at_s']:6.2f} s  {line}")


def _event_line(event: dict[str, Any]) -> str | None:
    kind = event["type"]
    if kind == "VariantSwitched":
        return (
            f"VariantSwitched: {event['from_id'] or '(start)'} -> {event['to_id']} at "
            f"{event['bitrate_bps'] / 1e6:.2f} Mbit/s ({event['reason']}"
            + (f", {event['detail']})" if event.get("detail") not in ("", event["reason"]) else ")")
        )
    if kind == "EdgeFailedOver":
        track = event.get("track") or "?"
        return (
            f"EdgeFailedOver ({track} track): {event['from_edge']} -> {event['to_edge']} "
            f"after {event['error_code']}"
        )
    if kind == "LicenseAcquired":
        kids = ", ".join(event["kids"]) or "-"
        return (
            f"LicenseAcquired: KID {kids} from {event['source']} in "
            f"{event['latency_s'] * 1000:.0f} ms"
        )
    if kind == "BufferingStarted":
        return f"BufferingStarted at position {event['position_s']:.1f} s"
    if kind == "BufferingEnded":
        return f"BufferingEnded after {event['stalled_s']:.2f} s"
    return None
