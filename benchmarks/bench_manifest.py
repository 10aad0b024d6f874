"""Parse-time benchmark for the manifest parsers (figures, not a timed test).

Run: ``python benchmarks/bench_manifest.py [--runs N]``

Reports the median (and best) of N runs for:

* a generated 10,000-segment live HLS media playlist (fMP4, ``EXT-X-MAP``, a
  ``EXT-X-PROGRAM-DATE-TIME`` on every segment, key rotation every 100 segments), parsed with
  ``parse_manifest`` at a fixed ``now`` (target: under 150 ms);
* the same playlist through ``m3u8.loads`` alone, for comparison;
* every corpus manifest (HLS and DASH) through ``parse_manifest``: total and slowest files;
* the DASH 6-hour ``SegmentTimeline`` cases, by running ``bench_manifest_dash.py`` if present.
"""

from __future__ import annotations

import argparse
import runpy
import statistics
import sys
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path

import m3u8

from player.errors import ManifestError
from player.manifest import parse_manifest

HERE = Path(__file__).resolve().parent
SHARED = HERE.parent.parent / "shared"
URL = "https://cdn.example.com/live/video/720p.m3u8"
NOW = 1_700_000_000.0


def live_playlist(segments: int = 10_000, *, segment_s: float = 2.0) -> bytes:
    first = 1_000_000
    start = datetime(2023, 11, 14, 22, 13, 20, tzinfo=timezone.utc)
    lines = [
        "#EXTM3U",
        "#EXT-X-VERSION:7",
        "#EXT-X-TARGETDURATION:2",
        f"#EXT-X-MEDIA-SEQUENCE:{first}",
        '#EXT-X-MAP:URI="init.mp4"',
    ]
    for i in range(segments):
        if i % 100 == 0:
            lines.append(
                f'#EXT-X-KEY:METHOD=AES-128,URI="https://keys.example.com/k/{i // 100}",'
                f"IV=0x{i:032x}"
            )
        when = start + timedelta(seconds=i * segment_s)
        lines.append(f"#EXT-X-PROGRAM-DATE-TIME:{when.isoformat(timespec='milliseconds')}")
        lines.append(f"#EXTINF:{segment_s:.3f},")
        lines.append(f"segment-{first + i}.m4s")
    return ("\n".join(lines) + "\n").encode()


def timings_ms(fn: Callable[[], object], runs: int) -> tuple[float, float, float]:
    """Median wall time, best wall time and median CPU time of ``runs`` calls, in ms.

    CPU (process) time is given too because the machine is shared: other processes inflate
    the wall time but not the CPU time this process spends.
    """
    walls, cpus = [], []
    for _ in range(runs):
        wall, cpu = time.perf_counter(), time.process_time()
        fn()
        cpus.append(time.process_time() - cpu)
        walls.append(time.perf_counter() - wall)
    return statistics.median(walls) * 1000, min(walls) * 1000, statistics.median(cpus) * 1000


def bench_live_hls(runs: int) -> None:
    data = live_playlist()
    p = parse_manifest(data, url=URL, now=NOW)
    segs = sum(len(r.segments or ()) for r in p.representations())
    ms, best, cpu = timings_ms(lambda: parse_manifest(data, url=URL, now=NOW), runs)
    print(
        f"HLS live playlist {len(data) / 1e6:5.2f} MB {segs} segments: median wall {ms:6.1f} ms"
        f"  best {best:6.1f} ms  cpu {cpu:6.1f} ms  ({1000 * cpu / segs:.1f} us/segment)"
    )
    text = data.decode()
    ms, best, cpu = timings_ms(lambda: m3u8.loads(text, uri=URL), runs)
    print(
        f"  for comparison, m3u8.loads alone: median wall {ms:6.1f} ms  best {best:6.1f} ms"
        f"  cpu {cpu:6.1f} ms"
    )


def bench_corpus(runs: int) -> None:
    results = []
    failures = 0
    for path in sorted((SHARED / "corpus" / "manifests").glob("*/*")):
        if path.suffix not in (".m3u8", ".mpd"):
            continue
        data = path.read_bytes()
        url = f"https://cdn.example.com/{path.parent.name}/{path.name}"
        try:
            parse_manifest(data, url=url, now=NOW)
        except ManifestError:
            failures += 1

        def once(d: bytes = data, u: str = url) -> None:
            try:
                parse_manifest(d, url=u, now=NOW)
            except ManifestError:
                pass

        results.append((timings_ms(once, runs)[2], path.parent.name, path.name))
    for kind in ("hls", "dash"):
        mine = [ms for ms, k, _ in results if k == kind]
        print(
            f"corpus {kind}: {len(mine)} files, cpu total {sum(mine):.1f} ms, "
            f"median file {statistics.median(mine):.2f} ms, max {max(mine):.2f} ms"
        )
    print(f"corpus: {len(results) - failures} parsed, {failures} ManifestError")
    for ms, _, name in sorted(results, reverse=True)[:5]:
        print(f"  {ms:8.2f} ms  {name}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    bench_live_hls(args.runs)
    bench_corpus(max(1, args.runs // 2))
    dash = HERE / "bench_manifest_dash.py"
    if dash.exists():
        print("--- DASH (bench_manifest_dash.py)")
        sys.argv = [str(dash), "--runs", str(args.runs)]
        runpy.run_path(str(dash), run_name="__main__")


if __name__ == "__main__":
    main()
