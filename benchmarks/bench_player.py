"""Player benchmarks (issue 6): startup time, CPU per minute of content, concurrent sessions.

Run: python benchmarks/bench_player.py [--quick]

The lab (CDN edge, license server) runs in a child process so that its CPU is not counted
as the player's. Figures are medians of several runs; this machine is shared and noisy.

1. Startup: ``load()`` to the first frame presentable (``PlaybackStarted.startup_s``: first
   video and audio segment downloaded, decrypted and decoded) for the demo content over
   HTTP/3 with ClearKey on loopback, real clock, a new Player (new connections, new license
   request) each run. Target: median under 400 ms.
2. CPU seconds of the player process per minute of content, headless, virtual clock, with
   and without decoding (same content, same run), and without decoding over HTTP/1.1 and
   HTTP/3 separately (issue 14: istream-player needs 1.96-2.44 s over HTTP/1.1 and 4.89 s over
   QUIC per 60 s of content; the target is at most half of that). ``--only cpu`` runs just
   this part. Each player run is followed by its peer: the same transport client fetching
   the same URLs (manifest, inits, every segment the player fetched) one after the other
   with nothing else, so ``player_over_fetch`` (median of the per-run ratios) says what the
   session adds to its transfers whatever the load of this shared machine does to both.
   The load average is noted before and after.
2b. Long sessions (``--only long``): ``--long-minutes`` (120) of the 60 s clip looped
   (``_looped.LoopedContent``) over HTTP/1.1, no decoding, as a VOD (DASH
   ``SegmentTemplate``, one index of 3,600 segments) and as a live event joined at its start
   and followed to its end (a 6 h ``timeShiftBufferDepth``, so the window grows through the
   session; the MPD refreshed every segment; published on the player's virtual clock,
   ``_looped.SharedClock``), runs interleaved. Each session's peer fetches the same URLs,
   the manifest as often as the player fetched it. CPU per content minute over the first
   and the last 10 minutes: the session's cost must not grow with its length
   (``last_over_first`` near 1).
3. Concurrent sessions without decoding in one process, each pinned to a 4 Mbit/s
   rendition, real clock: the most sessions that play with no stall. Target: at least 20.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import multiprocessing as mp
import os
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _looped import PATHS, LoopedContent, SharedClock, shared_value

from drm import DrmConfig, LicenseServerApp, package_mp4
from player import Player, PlayerConfig, RealClock, VirtualClock
from player.config import PlaybackConfig
from player.events import Event, SegmentDownloaded
from player.lab import ContentInfo, ContentSpec, RenditionSpec, generate_content
from transport import HttpClient, TransportConfig
from transport.lab import LabCdn, LabServer, Resource, TestCA

LIVE_WINDOW_S = 6 * 3600.0
"""``timeShiftBufferDepth`` of the long live event: longer than the session, so it grows."""
LADDER = (
    RenditionSpec(id="v180", width=320, height=180, bitrate_bps=300_000),
    RenditionSpec(id="v270", width=480, height=270, bitrate_bps=700_000),
    RenditionSpec(id="v360", width=640, height=360, bitrate_bps=1_400_000),
    RenditionSpec(id="v540", width=960, height=540, bitrate_bps=3_800_000),
)


class LongRuns:
    """``/<run>/...``: one long presentation per run name, made on its first request.

    ``vod<k>``: an event over long ago (a static MPD); ``live<k>``: a live event that started
    3 segments before its first request, on ``clock``. ``/<run>/stats`` answers how often
    the run's manifest was fetched (for the peer).
    """

    def __init__(self, info: ContentInfo, segments: int, clock: Any) -> None:
        self.info, self.segments, self.clock = info, segments, clock
        self.events: dict[str, LoopedContent] = {}
        self.manifests: dict[str, int] = {}

    def lookup(self, path: str) -> Resource | None:
        run, _, rest = path.lstrip("/").partition("/")
        if rest == "stats":
            body = json.dumps({"manifests": self.manifests.get(run, 0)}).encode()
            return Resource(
                size=len(body),
                etag=f'"{secrets.token_hex(8)}"',
                media_type="application/json",
                read=lambda offset, length: body[offset : offset + length],
            )
        if run not in self.events:
            is_live = run.startswith("live")
            self.events[run] = LoopedContent(
                self.info,
                segments=self.segments,
                window_s=LIVE_WINDOW_S,
                start_s=self.clock() - 3 * self.info.spec.segment_s if is_live else 0.0,
                clock=self.clock,
            )
        if rest.endswith((".mpd", ".m3u8")):
            self.manifests[run] = self.manifests.get(run, 0) + 1
        return self.events[run].lookup("/" + rest)


def serve_lab(
    root: str, kid: str, key_hex: str, token: str, conn: Any, live: tuple[Any, ...]
) -> None:
    """Child process: the CDN edge and the license server; sends their URLs, then waits.

    ``live`` is ``(content info, segments, shared clock value)`` for the long sessions.
    """
    ca = TestCA(Path(root) / "ca")
    licenses = LabServer(LicenseServerApp({kid: key_hex}, {token: [kid]}), ca=ca)  # type: ignore[arg-type]
    lic = licenses.start_in_thread()
    cdn = LabCdn(Path(root) / "content", edges=1, ca=ca).start_in_thread()
    info, segments, value = live
    runs = LongRuns(info, segments, lambda: value.value)
    live_cdn = LabCdn(runs, edges=1, ca=ca, http3=False).start_in_thread()
    conn.send(
        {
            "edge": cdn.edges[0].base_url,
            "live": live_cdn.edges[0].base_url,
            "license": lic.base_url + "/license",
            "ca": cdn.ca_file,
        }
    )
    conn.recv()  # until the parent is done
    live_cdn.stop()
    cdn.stop()
    lic.stop()


def config(lab: dict[str, str], token: str, **playback: Any) -> PlayerConfig:
    return PlayerConfig(
        transport=TransportConfig(ca_file=lab["ca"], protocol="h3"),
        drm=DrmConfig(license_headers={"Authorization": f"Bearer {token}"}),
        playback=PlaybackConfig(**playback),
    )


async def startup_once(url: str, cfg: PlayerConfig) -> float:
    async with Player(cfg, clock=RealClock()) as player:
        await player.load(url)
        for _ in range(2000):
            startup = player.stats().startup_s
            if startup is not None:
                return startup
            await asyncio.sleep(0.005)
    raise RuntimeError("playback did not start")


async def cpu_per_minute(
    url: str, cfg: PlayerConfig, duration_s: float, urls: list[str] | None = None
) -> float:
    """CPU-s of this process per content minute for one headless run (``urls``: what it got)."""
    start = time.process_time()
    async with Player(cfg, clock=VirtualClock()) as player:
        await player.load(url)
        await player.wait(timeout_s=600)
        assert player.stats().decode_errors == 0
        cpu = time.process_time() - start
        if urls is not None:
            urls.extend(fetched_urls(player))
    return cpu / (duration_s / 60.0)


def fetched_urls(player: Player) -> list[str]:
    """The manifest and every init and segment the player fetched, in order."""
    presentation = player.presentation
    assert presentation is not None
    reps = {r.id: r for period in presentation.periods for r in period.representations()}
    by_number: dict[str, dict[int, str]] = {}
    urls = [presentation.url]
    for event in player.event_log():
        if event["type"] != "SegmentDownloaded":
            continue
        rep = reps[event["representation_id"]]
        if event["number"] < 0:
            assert rep.init is not None
            urls.append(rep.init.urls[0])
            continue
        if rep.id not in by_number:
            by_number[rep.id] = {s.number: s.urls[0] for s in rep.segments or ()}
        urls.append(by_number[rep.id][event["number"]])
    return urls


async def fetch_per_minute(urls: list[str], transport: TransportConfig, duration_s: float) -> float:
    """The peer of a player run: CPU-s per content minute to fetch ``urls`` and nothing else."""
    start = time.process_time()
    async with HttpClient(transport) as http:
        for url in urls:
            await http.fetch(url)
    return (time.process_time() - start) / (duration_s / 60.0)


async def sessions(url: str, cfg: PlayerConfig, count: int, seconds: float) -> dict[str, Any]:
    """``count`` sessions pinned to the 4 Mbit/s rung, started 0.25 s apart (as viewers arrive)."""
    players = [Player(cfg, clock=RealClock()) for _ in range(count)]
    cpu0, wall0 = time.process_time(), time.monotonic()
    for p in players:
        await p.load(url)
        p.pin_video("v540")
        await asyncio.sleep(0.25)
    await asyncio.sleep(seconds)
    stats = [p.stats() for p in players]
    cpu, wall = time.process_time() - cpu0, time.monotonic() - wall0
    for p in players:
        await p.aclose()
    return {
        "sessions": count,
        "stalls": sum(s.stall_count for s in stats),
        "rebuffer_ratio_max": max(s.rebuffer_ratio for s in stats),
        "mean_bitrate_bps": statistics.mean(s.mean_bitrate_bps for s in stats),
        "goodput_mbps": sum(s.bytes_downloaded for s in stats) * 8 / wall / 1e6,
        "cpu_share": cpu / wall,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer runs, shorter content")
    parser.add_argument("--max-sessions", type=int, default=40)
    parser.add_argument("--only", choices=("cpu", "long"), help="run one part only")
    parser.add_argument("--runs", type=int, default=5, help="runs per CPU figure (median)")
    parser.add_argument(
        "--protocols", default="h1,h2,h3", help="protocols of the CPU figures (comma-separated)"
    )
    parser.add_argument("--long-minutes", type=int, default=120, help="long session length")
    parser.add_argument("--long-runs", type=int, default=3, help="long sessions of each kind")
    args = parser.parse_args()
    duration = 30 if args.quick else 60
    kid, key, token = secrets.token_hex(16), secrets.token_bytes(16), secrets.token_urlsafe(12)
    with tempfile.TemporaryDirectory() as tmp:
        spec = ContentSpec(duration_s=duration, ladder=LADDER, scheme="cenc", kid_hex=kid)
        info = generate_content(
            Path(tmp) / "content",
            spec,
            encrypt=lambda d: package_mp4(d, key_id=kid, key=key, scheme="cenc"),
        )
        parent, child = mp.Pipe()
        args.clock_value = shared_value()
        live = (info, int(args.long_minutes * 60 / spec.segment_s), args.clock_value)
        proc = mp.get_context("spawn").Process(
            target=serve_lab, args=(tmp, kid, key.hex(), token, child, live), daemon=True
        )
        proc.start()
        lab = parent.recv()
        try:
            results = asyncio.run(run_all(lab, token, duration, args))
        finally:
            parent.send("stop")
            proc.join(timeout=10)
    print(json.dumps(results, indent=2))
    return 0


async def cpu_without_decoding(
    url: str,
    cfg: PlayerConfig,
    duration: int,
    runs: int,
    protocols: tuple[str, ...] = ("h1", "h2", "h3"),
) -> dict[str, Any]:
    """CPU-s per content minute without decoding, over HTTP/1.1, HTTP/2 and HTTP/3, interleaved.

    Each player run is followed by its peer (``fetch_per_minute``, the same URLs).
    """
    samples: dict[str, dict[str, list[float]]] = {
        p: {"player": [], "fetch": [], "ratio": []} for p in protocols
    }
    load_before = os.getloadavg()
    for _ in range(runs):
        for protocol in protocols:
            transport = dataclasses.replace(
                cfg.transport,
                protocol="h3" if protocol == "h3" else "h1",
                is_http2_enabled=protocol == "h2",  # "h1" is HTTP/1.1 itself, as istream's
            )
            c = PlayerConfig(
                transport=transport,
                drm=cfg.drm,
                playback=PlaybackConfig(decode=False, keep_media=False),
            )
            urls: list[str] = []
            player = await cpu_per_minute(url, c, duration, urls)
            fetch = await fetch_per_minute(urls, transport, duration)
            got = samples[protocol]
            got["player"].append(player)
            got["fetch"].append(fetch)
            got["ratio"].append(player / fetch)
    out: dict[str, Any] = {
        protocol: {
            "median": statistics.median(got["player"]),
            "runs": [round(v, 3) for v in got["player"]],
            "fetch_median": statistics.median(got["fetch"]),
            "fetch_runs": [round(v, 3) for v in got["fetch"]],
            "player_over_fetch": statistics.median(got["ratio"]),
        }
        for protocol, got in samples.items()
    }
    out["loadavg_before_after"] = [round(load_before[0], 2), round(os.getloadavg()[0], 2)]
    names = {"h1": "HTTP/1.1", "h2": "HTTP/2", "h3": "HTTP/3"}
    print(
        f"player CPU-s per content minute without decoding (median of {runs}): "
        + ", ".join(f"{names[p]} {out[p]['median']:.3f}" for p in protocols)
        + " (istream-player: 1.96-2.44 over HTTP/1.1, 4.89 over QUIC); "
        "over a plain fetch of the same URLs: "
        + ", ".join(f"{p} {out[p]['player_over_fetch']:.2f}x" for p in protocols)
        + f"; load {out['loadavg_before_after']}",
        file=sys.stderr,
        flush=True,
    )
    return out


class MinuteMarks:
    """Process CPU time when the video track gets each new minute of content."""

    def __init__(self, segment_s: float) -> None:
        self.segment_s = segment_s
        self.first: int | None = None
        self.cpu_at_minute: dict[int, float] = {}

    def __call__(self, event: Event) -> None:
        if not isinstance(event, SegmentDownloaded) or event.track != "video" or event.number < 0:
            return
        self.first = event.number if self.first is None else self.first
        minute = int((event.number - self.first) * self.segment_s // 60)
        self.cpu_at_minute.setdefault(minute, time.process_time())

    def per_minute(self, first: int, last: int) -> float:
        """CPU-s per content minute between the starts of minutes ``first`` and ``last``."""
        marks = self.cpu_at_minute
        return (marks[last] - marks[first]) / (last - first)


async def long_session(base: str, cfg: PlayerConfig, clock_value: Any) -> dict[str, Any]:
    """One long session at ``base`` (a ``LongRuns`` run) and its peer."""
    marks = MinuteMarks(segment_s=2.0)
    start = time.process_time()
    async with Player(cfg, clock=SharedClock(clock_value)) as player:
        player.add_listener(marks)
        await player.load(base + PATHS["dash"])
        await player.wait(timeout_s=7200)
        cpu = time.process_time() - start
        state, played = player.state.value, player.position_s
        urls = fetched_urls(player)
    async with HttpClient(cfg.transport) as http:
        stats = json.loads((await http.fetch(base + "/stats")).content)
    urls += [urls[0]] * (stats["manifests"] - 1)  # every refresh of the manifest
    content_min = played / 60
    fetch = await fetch_per_minute(urls, cfg.transport, played)
    minutes = max(marks.cpu_at_minute)
    first, last = marks.per_minute(1, 11), marks.per_minute(minutes - 10, minutes)
    return {
        "state": state,
        "played_min": round(content_min, 2),
        "manifests": stats["manifests"],
        "requests": len(urls),
        "cpu_s_per_content_min": cpu / content_min,
        "fetch_cpu_s_per_content_min": fetch,
        "player_over_fetch": cpu / content_min / fetch,
        "first_10min": first,
        "last_10min": last,
        "last_over_first": last / first,
    }


async def long_sessions(lab: dict[str, str], cfg: PlayerConfig, args: Any) -> dict[str, Any]:
    """``--long-runs`` long VOD and live sessions over HTTP/1.1, interleaved (docstring, 2b)."""
    transport = dataclasses.replace(cfg.transport, protocol="h1", is_http2_enabled=False)
    c = PlayerConfig(
        transport=transport, drm=cfg.drm, playback=PlaybackConfig(decode=False, keep_media=False)
    )
    load_before = os.getloadavg()
    runs: dict[str, list[dict[str, Any]]] = {"vod": [], "live": []}
    for k in range(args.long_runs):
        for kind, got in runs.items():
            run = await long_session(f"{lab['live']}/{kind}{k}", c, args.clock_value)
            print(json.dumps({"kind": kind, **run}), file=sys.stderr, flush=True)
            got.append(run)
    keys = (
        "cpu_s_per_content_min",
        "fetch_cpu_s_per_content_min",
        "player_over_fetch",
        "first_10min",
        "last_10min",
        "last_over_first",
    )
    out: dict[str, Any] = {}
    for kind, got in runs.items():
        out[kind] = {key: statistics.median(r[key] for r in got) for key in keys}
        out[kind]["runs"] = got
        print(
            f"long {kind} session, {args.long_minutes} min, HTTP/1.1, no decoding (median of "
            f"{args.long_runs}): {out[kind]['cpu_s_per_content_min']:.3f} CPU-s per content "
            f"minute, {out[kind]['player_over_fetch']:.2f}x a plain fetch of the same URLs; "
            f"first 10 min {out[kind]['first_10min']:.3f}, last 10 min "
            f"{out[kind]['last_10min']:.3f} (last/first {out[kind]['last_over_first']:.2f})",
            file=sys.stderr,
            flush=True,
        )
    out["content_min"] = args.long_minutes
    out["live_time_shift_buffer_s"] = LIVE_WINDOW_S
    out["loadavg_before_after"] = [round(load_before[0], 2), round(os.getloadavg()[0], 2)]
    return out


async def run_all(lab: dict[str, str], token: str, duration: int, args: Any) -> dict[str, Any]:
    url = f"{lab['edge']}/manifest.mpd"
    cfg = config(lab, token)
    cfg = PlayerConfig(
        transport=cfg.transport,
        drm=DrmConfig(license_url=lab["license"], license_headers=dict(cfg.drm.license_headers)),
        playback=cfg.playback,
    )
    if args.only == "long":
        return {"long_sessions": await long_sessions(lab, cfg, args), "cpus": os.cpu_count()}
    protocols = tuple(args.protocols.split(","))
    no_decode = await cpu_without_decoding(url, cfg, duration, args.runs, protocols)
    if args.only == "cpu":
        return {"cpu_s_per_content_minute_no_decode": no_decode, "cpus": os.cpu_count()}
    runs = 5 if args.quick else 10
    startups = [await startup_once(url, cfg) for _ in range(runs)]
    out: dict[str, Any] = {
        "startup_s": {"median": statistics.median(startups), "runs": startups},
        "cpu_s_per_content_minute": {},
        "cpu_s_per_content_minute_no_decode": no_decode,
    }
    for decode in (True, False):
        c = PlayerConfig(
            transport=cfg.transport, drm=cfg.drm, playback=PlaybackConfig(decode=decode)
        )
        samples = [await cpu_per_minute(url, c, duration) for _ in range(3)]
        out["cpu_s_per_content_minute"]["decode" if decode else "no_decode"] = statistics.median(
            samples
        )
    for protocol in ("h1", "h3"):
        nodecode = PlayerConfig(
            transport=dataclasses.replace(cfg.transport, protocol=protocol),
            drm=cfg.drm,
            playback=PlaybackConfig(decode=False, keep_media=False),
        )
        sustained = []
        for count in (10, 20, 30, args.max_sessions):
            result = await sessions(url, nodecode, count, seconds=15.0 if args.quick else 25.0)
            result["protocol"] = protocol
            sustained.append(result)
            print(json.dumps(result), file=sys.stderr, flush=True)
            if result["stalls"]:
                break
        out[f"sessions_at_4mbps_{protocol}"] = sustained
    out["long_sessions"] = await long_sessions(lab, cfg, args)
    out["cpus"] = os.cpu_count()
    return out


if __name__ == "__main__":
    sys.exit(main())
