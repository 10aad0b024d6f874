"""Parse-time benchmark for the DASH parser.

Run: ``python benchmarks/bench_manifest_dash.py [--runs N]``

Reports the median of N runs for:

* a generated 6-hour DASH MPD with an explicit ``SegmentTimeline`` (one ``<S>`` per 2 s
  segment, durations alternating so no ``r`` repeat compresses them): 5 video
  representations and 1 audio representation, 10,800 segments each (64,800 in all);
* the same as a live (dynamic) MPD with a 6-hour time-shift window, parsed at its end;
* the same timeline written compactly with ``r`` repeats;
* every MPD of the shared corpus (total and slowest files).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from pathlib import Path

from player.errors import ManifestError
from player.manifest import parse_dash

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
URL = "https://cdn.example.com/live/manifest.mpd"
HOURS = 6
SEGMENT_S = 2
TIMESCALE = 90_000
AST = 1_700_000_000.0


def timeline(*, compact: bool) -> str:
    count = HOURS * 3600 // SEGMENT_S
    if compact:
        return f'<S t="0" d="{SEGMENT_S * TIMESCALE}" r="{count - 1}"/>'
    out = []
    t = 0
    for i in range(count):
        d = SEGMENT_S * TIMESCALE + (90 if i % 2 == 0 else -90)
        out.append(f'<S t="{t}" d="{d}"/>' if i == 0 else f'<S d="{d}"/>')
        t += d
    return "".join(out)


def six_hour_mpd(*, live: bool, compact: bool = False) -> bytes:
    if live:
        head = (
            'type="dynamic" availabilityStartTime="2023-11-14T22:13:20Z" '
            f'timeShiftBufferDepth="PT{HOURS}H" minimumUpdatePeriod="PT2S"'
        )
    else:
        head = f'type="static" mediaPresentationDuration="PT{HOURS}H"'
    tl = timeline(compact=compact)
    videos = "".join(
        f'<Representation id="v{i}" bandwidth="{(i + 1) * 800_000}" width="{320 * (i + 1)}" '
        f'height="{180 * (i + 1)}" codecs="avc1.64001f"/>'
        for i in range(5)
    )
    return (
        '<?xml version="1.0"?>'
        f'<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" {head} minBufferTime="PT2S">'
        '<Period id="0" start="PT0S">'
        '<AdaptationSet mimeType="video/mp4" segmentAlignment="true">'
        f'<SegmentTemplate timescale="{TIMESCALE}" media="$RepresentationID$/$Time$.m4s" '
        f'initialization="$RepresentationID$/init.mp4"><SegmentTimeline>{tl}</SegmentTimeline>'
        f"</SegmentTemplate>{videos}</AdaptationSet>"
        '<AdaptationSet mimeType="audio/mp4" lang="en">'
        f'<SegmentTemplate timescale="{TIMESCALE}" media="a/$Number$.m4s" '
        f'initialization="a/init.mp4"><SegmentTimeline>{tl}</SegmentTimeline></SegmentTemplate>'
        '<Representation id="a" bandwidth="128000" codecs="mp4a.40.2"/></AdaptationSet>'
        "</Period></MPD>"
    ).encode()


def timings_ms(fn: Callable[[], object], runs: int) -> tuple[float, float]:
    """Median wall-clock and median CPU time of ``runs`` calls, in milliseconds.

    CPU time (``process_time``) is the steadier figure on a shared, loaded machine.
    """
    wall, cpu = [], []
    for _ in range(runs):
        started, started_cpu = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - started)
        cpu.append(time.process_time() - started_cpu)
    return statistics.median(wall) * 1000, statistics.median(cpu) * 1000


def segment_count(data: bytes, now: float | None) -> int:
    p = parse_dash(data, url=URL, now=now)
    return sum(len(r.segments or ()) for r in p.representations())


def bench_generated(runs: int) -> None:
    end = AST + HOURS * 3600 + 1
    cases = [
        ("6 h static, explicit timeline", six_hour_mpd(live=False), None),
        ("6 h live, 6 h window, at the end", six_hour_mpd(live=True), end),
        ("6 h static, compact (r=)", six_hour_mpd(live=False, compact=True), None),
    ]
    for label, data, now in cases:
        segs = segment_count(data, now)
        ms, cpu = timings_ms(lambda d=data, n=now: parse_dash(d, url=URL, now=n), runs)
        print(
            f"{label:36} {len(data) / 1e6:6.2f} MB {segs:7d} segments  "
            f"median wall {ms:7.1f} ms  cpu {cpu:7.1f} ms  ({1000 * cpu / segs:.2f} us/segment)"
        )


def bench_corpus(runs: int) -> None:
    folder = SHARED / "corpus" / "manifests" / "dash"
    results = []
    for path in sorted(folder.glob("*.mpd")):
        data = path.read_bytes()

        def once(d: bytes = data) -> None:
            try:
                parse_dash(d, url=URL, now=1_700_000_000.0)
            except ManifestError:
                pass

        results.append((timings_ms(once, runs)[1], path.name))
    total = sum(ms for ms, _ in results)
    middle = statistics.median(ms for ms, _ in results)
    print(f"corpus: {len(results)} MPDs, cpu total {total:.1f} ms, median file {middle:.2f} ms")
    for ms, name in sorted(results, reverse=True)[:5]:
        print(f"  {ms:8.2f} ms  {name}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    bench_generated(args.runs)
    bench_corpus(max(1, args.runs // 2))


if __name__ == "__main__":
    main()
