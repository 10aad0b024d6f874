"""Profile long headless sessions (no decoding) with cProfile: where a session's CPU goes.

Run: python benchmarks/profile_session.py [--minutes 120] [--only vod-dash] [--top 30]

A 10 s clear clip is generated once and served over HTTP/1.1 by the lab CDN (in a thread of
this process) as long presentations (``_looped.LoopedContent``): a VOD of ``--minutes`` over DASH
(``SegmentTemplate``) and over HLS (one media playlist of every segment), and a live event of
the same length with a 6 h time-shift window (DASH, the MPD refreshed every segment) that the
player joins at its start and follows to its end. The player runs on a virtual clock whose
time the live publisher shares. Only the player's thread is profiled, and its CPU time
(``time.thread_time``) per minute of content is printed for the first and the last 10
minutes of each session, so that growth with session length shows.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import pstats
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _looped import PATHS, LoopedContent

from player import Player, PlayerConfig, VirtualClock
from player.config import PlaybackConfig
from player.events import Event, SegmentDownloaded
from player.lab import ContentInfo, ContentSpec, RenditionSpec, generate_content
from transport import TransportConfig
from transport.lab import LabCdn

CLIP = ContentSpec(
    duration_s=10,
    segment_s=2,
    ladder=(
        RenditionSpec(id="v1", width=160, height=90, bitrate_bps=300_000),
        RenditionSpec(id="v2", width=320, height=180, bitrate_bps=1_000_000),
    ),
)
WINDOW_S = 10 * 60.0
"""The windows compared: the first and the last 10 minutes of content."""


class CpuMarks:
    """Thread CPU time each time the video track reaches another minute of content."""

    def __init__(self) -> None:
        self.by_minute: dict[int, float] = {}

    def on_segment(self, number: int, segment_s: float) -> None:
        """Record the CPU time when video segment ``number`` (1-based) arrives."""
        minute = int((number - 1) * segment_s // 60)
        self.by_minute.setdefault(minute, time.thread_time())

    def windows(self) -> dict[str, float]:
        """CPU-s per content minute over the first and the last ``WINDOW_S`` of content."""
        minutes = sorted(self.by_minute)
        span = int(WINDOW_S // 60)
        if len(minutes) <= 2 * span:
            return {}
        first = (self.by_minute[minutes[span]] - self.by_minute[minutes[0]]) / span
        last = (self.by_minute[minutes[-1]] - self.by_minute[minutes[-1 - span]]) / span
        return {"first_10min": first, "last_10min": last, "last_over_first": last / first}


async def play(url: str, ca_file: str, clock: VirtualClock, segment_s: float) -> dict[str, Any]:
    config = PlayerConfig(
        transport=TransportConfig(ca_file=ca_file, protocol="h1", is_http2_enabled=False),
        playback=PlaybackConfig(decode=False, keep_media=False),
    )
    marks = CpuMarks()

    first: list[int] = []

    def listen(event: Event) -> None:
        if isinstance(event, SegmentDownloaded) and event.track == "video" and event.number > 0:
            first.append(event.number) if not first else None
            marks.on_segment(event.number - first[0] + 1, segment_s)

    cpu0 = time.thread_time()
    async with Player(config, clock=clock) as player:
        player.add_listener(listen)
        await player.load(url)
        await player.wait(timeout_s=3600)
        played = player.position_s
        state = player.state.value
    cpu = time.thread_time() - cpu0
    return {
        "state": state,
        "played_min": played / 60,
        "cpu_s": cpu,
        "cpu_s_per_content_min": cpu / (played / 60) if played else None,
        **marks.windows(),
    }


def run(name: str, info: ContentInfo, args: Any) -> dict[str, Any]:
    minutes, out = args.minutes, args.out
    segments = int(minutes * 60 / CLIP.segment_s)
    clock = VirtualClock(start_s=time.time())
    live = name.startswith("live")
    content = LoopedContent(
        info,
        segments=segments,
        window_s=6 * 3600.0 if live else minutes * 60 + 60,
        start_s=clock.now() - 3 * CLIP.segment_s if live else 0.0,
        clock=clock.now,
    )
    cdn = LabCdn(content, edges=1, http3=False).start_in_thread()
    try:
        url = cdn.edges[0].base_url + PATHS[name.split("-")[1]]
        profiler = cProfile.Profile(time.thread_time)  # CPU of this thread, not waits
        if not args.no_profile:
            profiler.enable()
        result = asyncio.run(play(url, cdn.ca_file, clock, CLIP.segment_s))
        profiler.disable()
    finally:
        cdn.stop()
    if args.no_profile:
        return result
    text = io.StringIO()
    stats = pstats.Stats(profiler, stream=text)
    stats.sort_stats("tottime").print_stats(args.top)
    stats.sort_stats("cumtime").print_stats(args.top)
    (out / f"profile-{name}.txt").write_text(text.getvalue(), encoding="utf-8")
    stats.dump_stats(str(out / f"profile-{name}.pstats"))
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=120.0, help="content length")
    parser.add_argument("--only", choices=("vod-dash", "vod-hls", "live-dash", "live-hls"))
    parser.add_argument("--top", type=int, default=30, help="functions listed per profile")
    parser.add_argument("--no-profile", action="store_true", help="CPU figures only")
    parser.add_argument("--out", type=Path, default=Path("."), help="folder for the profiles")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    names = [args.only] if args.only else ["vod-dash", "vod-hls", "live-dash"]
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        info = generate_content(Path(tmp) / "clip", CLIP)
        for name in names:
            results[name] = run(name, info, args)
            print(name, results[name], file=sys.stderr, flush=True)
    print(results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
