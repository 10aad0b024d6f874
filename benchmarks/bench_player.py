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
   this part.
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

from drm import DrmConfig, LicenseServerApp, package_mp4
from player import Player, PlayerConfig, RealClock, VirtualClock
from player.config import PlaybackConfig
from player.lab import ContentSpec, RenditionSpec, generate_content
from transport import TransportConfig
from transport.lab import LabCdn, LabServer, TestCA

LADDER = (
    RenditionSpec(id="v180", width=320, height=180, bitrate_bps=300_000),
    RenditionSpec(id="v270", width=480, height=270, bitrate_bps=700_000),
    RenditionSpec(id="v360", width=640, height=360, bitrate_bps=1_400_000),
    RenditionSpec(id="v540", width=960, height=540, bitrate_bps=3_800_000),
)


def serve_lab(root: str, kid: str, key_hex: str, token: str, conn: Any) -> None:
    """Child process: the CDN edge and the license server; sends their URLs, then waits."""
    ca = TestCA(Path(root) / "ca")
    licenses = LabServer(LicenseServerApp({kid: key_hex}, {token: [kid]}), ca=ca)  # type: ignore[arg-type]
    lic = licenses.start_in_thread()
    cdn = LabCdn(Path(root) / "content", edges=1, ca=ca).start_in_thread()
    conn.send(
        {"edge": cdn.edges[0].base_url, "license": lic.base_url + "/license", "ca": cdn.ca_file}
    )
    conn.recv()  # until the parent is done
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


async def cpu_per_minute(url: str, cfg: PlayerConfig, duration_s: float) -> float:
    start = time.process_time()
    async with Player(cfg, clock=VirtualClock()) as player:
        await player.load(url)
        await player.wait(timeout_s=600)
        assert player.stats().decode_errors == 0
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
    parser.add_argument("--only", choices=("cpu",), help="run one part only")
    parser.add_argument("--runs", type=int, default=5, help="runs per CPU figure (median)")
    args = parser.parse_args()
    duration = 30 if args.quick else 60
    kid, key, token = secrets.token_hex(16), secrets.token_bytes(16), secrets.token_urlsafe(12)
    with tempfile.TemporaryDirectory() as tmp:
        spec = ContentSpec(duration_s=duration, ladder=LADDER, scheme="cenc", kid_hex=kid)
        generate_content(
            Path(tmp) / "content",
            spec,
            encrypt=lambda d: package_mp4(d, key_id=kid, key=key, scheme="cenc"),
        )
        parent, child = mp.Pipe()
        proc = mp.get_context("spawn").Process(
            target=serve_lab, args=(tmp, kid, key.hex(), token, child), daemon=True
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
    url: str, cfg: PlayerConfig, duration: int, runs: int
) -> dict[str, Any]:
    """CPU-s per content minute without decoding, over HTTP/1.1, HTTP/2 and HTTP/3, interleaved."""
    samples: dict[str, list[float]] = {"h1": [], "h2": [], "h3": []}
    for _ in range(runs):
        for protocol in samples:
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
            samples[protocol].append(await cpu_per_minute(url, c, duration))
    out = {
        protocol: {"median": statistics.median(values), "runs": [round(v, 3) for v in values]}
        for protocol, values in samples.items()
    }
    print(
        f"player CPU-s per content minute without decoding (median of {runs}): "
        f"HTTP/1.1 {out['h1']['median']:.3f} (istream-player 1.96-2.44), "
        f"HTTP/2 {out['h2']['median']:.3f}, "
        f"HTTP/3 {out['h3']['median']:.3f} (istream-player 4.89 over QUIC)",
        file=sys.stderr,
        flush=True,
    )
    return out


async def run_all(lab: dict[str, str], token: str, duration: int, args: Any) -> dict[str, Any]:
    url = f"{lab['edge']}/manifest.mpd"
    cfg = config(lab, token)
    cfg = PlayerConfig(
        transport=cfg.transport,
        drm=DrmConfig(license_url=lab["license"], license_headers=dict(cfg.drm.license_headers)),
        playback=cfg.playback,
    )
    no_decode = await cpu_without_decoding(url, cfg, duration, args.runs)
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
    out["cpus"] = os.cpu_count()
    return out


if __name__ == "__main__":
    sys.exit(main())
