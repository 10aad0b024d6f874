"""Parse-time benchmark for the manifest parsers (figures, not a timed test).

Run: ``python benchmarks/bench_manifest.py [--runs N]``

Reports the median (and best) of N runs for:

* a generated 10,000-segment live HLS media playlist (fMP4, ``EXT-X-MAP``, a
  ``EXT-X-PROGRAM-DATE-TIME`` on every segment, key rotation every 100 segments), parsed with
  ``parse_manifest`` at a fixed ``now`` (target: under 150 ms);
* the same playlist through ``m3u8.loads`` alone, for comparison;
* every corpus manifest (HLS and DASH) through ``parse_manifest``: total and slowest files;
* hostile shapes (issue 11): the 1.1 KiB live MPD whose ``@duration="1"`` template and ten-year
  window once expanded to 4,000,000 segments, 9,990 ``EXT-X-MEDIA`` renditions sharing one URI,
  and 8,000 ``Representation``s in one ``AdaptationSet`` (target: each under 0.1 s / 0.3 s
  and 50 MB); peak memory is the ``tracemalloc`` peak of one extra parse;
* the DASH 6-hour ``SegmentTimeline`` cases, by running ``bench_manifest_dash.py`` if present.
"""

from __future__ import annotations

import argparse
import runpy
import statistics
import sys
import time
import tracemalloc
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


AMPLIFICATION_MPD = b"""<?xml version="1.0" encoding="UTF-8"?>
<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" profiles="urn:mpeg:dash:profile:isoff-live:2011"
     type="dynamic" availabilityStartTime="2000-01-01T00:00:00Z"
     publishTime="2023-11-14T22:13:20Z" minimumUpdatePeriod="PT2S"
     timeShiftBufferDepth="P3650D" minBufferTime="PT2S">
  <Period id="0" start="PT0S">
    <AdaptationSet id="0" contentType="video" mimeType="video/mp4" segmentAlignment="true">
      <SegmentTemplate timescale="1" duration="1" startNumber="1"
          initialization="$RepresentationID$/init.mp4" media="$RepresentationID$/$Number$.m4s"/>
      <Representation id="v1" bandwidth="400000" width="640" height="360" codecs="avc1.64001e"/>
      <Representation id="v2" bandwidth="800000" width="960" height="540" codecs="avc1.64001f"/>
      <Representation id="v3" bandwidth="1600000" width="1280" height="720" codecs="avc1.64001f"/>
      <Representation id="v4" bandwidth="3200000" width="1920" height="1080" codecs="avc1.640028"/>
    </AdaptationSet>
  </Period>
</MPD>
"""
"""A 1.1 KiB live MPD: a ten-year window of 1-second segments, four representations."""


def shared_uri_renditions(count: int = 9_990) -> bytes:
    """A multivariant playlist whose ``count`` audio renditions all name the same URI."""
    lines = ["#EXTM3U"]
    lines += [
        f'#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="aud",NAME="a{i}",LANGUAGE="en",URI="audio.m3u8"'
        for i in range(count)
    ]
    lines += ['#EXT-X-STREAM-INF:BANDWIDTH=800000,CODECS="avc1.64001f,mp4a.40.2",AUDIO="aud"']
    lines += ["video.m3u8"]
    return ("\n".join(lines) + "\n").encode()


def wide_adaptation_set(count: int = 8_000) -> bytes:
    """One ``AdaptationSet`` with ``count`` representations sharing its protection and template."""
    reps = "".join(
        f'<Representation id="r{i}" bandwidth="{100_000 + i}" width="640" height="360"/>'
        for i in range(count)
    )
    return (
        '<?xml version="1.0"?><MPD xmlns="urn:mpeg:dash:schema:mpd:2011" '
        'xmlns:cenc="urn:mpeg:cenc:2013" type="static" mediaPresentationDuration="PT60S">'
        '<Period id="0"><AdaptationSet mimeType="video/mp4" codecs="avc1.64001f">'
        '<ContentProtection schemeIdUri="urn:mpeg:dash:mp4protection:2011" value="cenc" '
        'cenc:default_KID="0123456789abcdef0123456789abcdef"/>'
        '<AudioChannelConfiguration schemeIdUri="urn:mpeg:dash:23003:3:audio_channel_'
        'configuration:2011" value="2"/>'
        '<SegmentTemplate timescale="1000" duration="2000" media="$RepresentationID$/$Number$.m4s"'
        ' initialization="$RepresentationID$/init.mp4"/>'
        f"{reps}</AdaptationSet></Period></MPD>"
    ).encode()


def _parse_or_refuse(data: bytes, url: str) -> str:
    try:
        p = parse_manifest(data, url=url, now=NOW)
    except ManifestError as exc:
        return f"refused ({exc.detail})"
    reps = list(p.representations())
    segs = sum(len(r.segments or ()) for r in reps)
    return f"{len(reps)} representations, {segs:,} segments (logical)"


def bench_hostile(runs: int) -> None:
    cases = [
        ("amplification MPD (10-year window)", AMPLIFICATION_MPD, "https://cdn.example.com/a.mpd"),
        ("9,990 EXT-X-MEDIA, one URI", shared_uri_renditions(), "https://cdn.example.com/m.m3u8"),
        ("8,000 Representations, one set", wide_adaptation_set(), "https://cdn.example.com/w.mpd"),
    ]
    for label, data, url in cases:
        outcome = _parse_or_refuse(data, url)
        ms, best, cpu = timings_ms(lambda d=data, u=url: _parse_or_refuse(d, u), runs)
        tracemalloc.start()
        _parse_or_refuse(data, url)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        print(
            f"{label:36} {len(data) / 1e3:8.1f} kB: median wall {ms:8.1f} ms  cpu {cpu:8.1f} ms"
            f"  peak {peak / 1e6:7.1f} MB  -> {outcome}"
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
    parser.add_argument("--hostile-runs", type=int, default=None, help="default: --runs")
    args = parser.parse_args()
    bench_hostile(args.hostile_runs or args.runs)
    bench_live_hls(args.runs)
    bench_corpus(max(1, args.runs // 2))
    dash = HERE / "bench_manifest_dash.py"
    if dash.exists():
        print("--- DASH (bench_manifest_dash.py)")
        sys.argv = [str(dash), "--runs", str(args.runs)]
        runpy.run_path(str(dash), run_name="__main__")


if __name__ == "__main__":
    main()
