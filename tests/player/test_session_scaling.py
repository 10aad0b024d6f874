"""The session's work per turn does not grow with the length of a presentation.

Counted, not timed: a ``SegmentRuns`` subclass counts the segments it builds and a
``Sequence`` counts the items read, so each test fails if a lookup goes back to scanning
(or materialising) a rendition's segment list.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, overload

import pytest

from player._buffer import BufferedSegment, TrackBuffer
from player._track_runtime import TrackRuntime
from player._tracks import segment_at
from player.cli._evidence import ByteTally, _bytes
from player.manifest import (
    ByteRange,
    Representation,
    Segment,
    SegmentRuns,
    Track,
    TrackType,
    parse_dash,
)

DAYS = 20
LONG_MPD = f"""<?xml version="1.0" encoding="UTF-8"?>
<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" profiles="urn:mpeg:dash:profile:isoff-live:2011"
     type="static" mediaPresentationDuration="P{DAYS}D" minBufferTime="PT2S">
  <Period id="0" start="PT0S">
    <AdaptationSet id="0" contentType="video" mimeType="video/mp4">
      <SegmentTemplate timescale="1000" duration="2000" startNumber="1"
          initialization="init.mp4" media="$Number$.m4s"/>
      <Representation id="v1" bandwidth="800000" width="640" height="360" codecs="avc1.64001e"/>
    </AdaptationSet>
  </Period>
</MPD>""".encode()
SEGMENTS = DAYS * 86_400 // 2


class CountingRuns(SegmentRuns):
    """A ``SegmentRuns`` that counts the segments it builds."""

    built = 0

    def _segment(self, number: int, t: int, d: int) -> Segment:
        CountingRuns.built += 1
        return super()._segment(number, t, d)


class CountingList(Sequence[Segment]):
    """``count`` segments of 2 s numbered from ``first``, made when read; counts the reads."""

    def __init__(self, count: int, *, first: int = 1, ranged: bool = False) -> None:
        self.count = count
        self.first = first
        self.ranged = ranged
        self.reads = 0

    def __len__(self) -> int:
        return self.count

    @overload
    def __getitem__(self, index: int) -> Segment: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[Segment]: ...

    def __getitem__(self, index: int | slice) -> Segment | Sequence[Segment]:
        if isinstance(index, slice):
            raise TypeError("no slices here")
        if index < 0:
            index += self.count
        if not 0 <= index < self.count:
            raise IndexError(index)
        self.reads += 1
        number = self.first + index
        byte_range = ByteRange(first=0, last=999 + number) if self.ranged else None
        return Segment(
            urls=(f"https://cdn/{number}.m4s",),
            number=number,
            start_s=2.0 * index,
            duration_s=2.0,
            byte_range=byte_range,
        )

    def __iter__(self) -> Iterator[Segment]:
        for i in range(self.count):
            yield self[i]


@pytest.fixture(scope="module")
def long_runs() -> SegmentRuns:
    presentation = parse_dash(LONG_MPD, url="https://cdn/manifest.mpd", now=0.0)
    segments = presentation.periods[0].tracks[0].representations[0].segments
    assert isinstance(segments, SegmentRuns) and len(segments) == SEGMENTS
    return CountingRuns(segments.table, ("https://cdn/{n}.m4s",), None)


def test_segment_at_builds_one_segment_of_a_long_index(long_runs: SegmentRuns) -> None:
    for position, number in [(0.0, 1), (1.9995, 2), (7_000.5, 3_501), (SEGMENTS * 2 - 1, SEGMENTS)]:
        before = CountingRuns.built
        found = segment_at(long_runs, position)
        assert found is not None and found.number == number
        assert CountingRuns.built - before == 1
    assert segment_at(long_runs, SEGMENTS * 2.0) is None


@pytest.mark.parametrize("tolerance_s", [0.0, 1e-3])
def test_segment_at_answers_as_a_scan_of_the_list(
    long_runs: SegmentRuns, tolerance_s: float
) -> None:
    """Runs, a listed copy and the first-ending-after scan agree, boundaries included."""
    window = long_runs[1000:1040]
    listed = list(window)
    positions = [s.start_s + d for s in listed for d in (-1e-3, -1e-4, 0.0, 1e-4, 1.0)]
    for position in positions:
        limit = position + tolerance_s
        scanned = next((s for s in listed if s.end_s > limit), None)
        assert segment_at(window, position, tolerance_s=tolerance_s) == scanned
        assert segment_at(listed, position, tolerance_s=tolerance_s) == scanned


def test_a_turn_asks_the_index_once_per_buffered_end(long_runs: SegmentRuns) -> None:
    rep = Representation(id="v1", bandwidth_bps=800_000, segments=long_runs)
    track = Track(id="0", type=TrackType.VIDEO, representations=(rep,))
    runtime = TrackRuntime("video", track, (rep,), current=0)
    before = CountingRuns.built
    needs = [runtime.need(0.5) for _ in range(5)]
    assert CountingRuns.built - before == 1
    assert [n.buffered_end_s for n in needs] == [0.5] * 5
    first = runtime.next_segment(0.5)
    assert first is not None and first.number == 1
    runtime.buffer.add(BufferedSegment(0.0, 2.0, "v1", 800_000, 1))
    second = runtime.next_segment(0.5)
    assert second is not None and second.number == 2
    assert CountingRuns.built - before == 2


def test_buffered_end_follows_every_change() -> None:
    buffer = TrackBuffer()
    buffer.add(BufferedSegment(0.0, 2.0, "v", 1, 1))
    assert buffer.buffered_end(0.5) == buffer.buffered_end(1.5) == 2.0
    buffer.add(BufferedSegment(2.0, 4.0, "v", 1, 2))
    assert buffer.buffered_end(0.5) == 4.0
    buffer.add(BufferedSegment(6.0, 8.0, "v", 1, 4))  # a gap: the range ends at 4
    assert buffer.buffered_end(1.5) == 4.0 and buffer.buffered_end(6.5) == 8.0
    buffer.add(BufferedSegment(4.0, 6.0, "v", 1, 3))  # the gap filled
    assert buffer.buffered_end(1.5) == 8.0
    assert [s.number for s in buffer.evict_before(2.0)] == [1]
    assert buffer.evict_before(2.0) == []
    assert buffer.buffered_end(2.5) == 8.0 and buffer.buffered_end(1.0) == 1.0
    buffer.clear()
    assert buffer.buffered_end(2.5) == 2.5


def _downloads(rep_id: str, numbers: list[int]) -> list[dict[str, Any]]:
    return [
        {"representation_id": rep_id, "number": n, "nbytes": 1_000 + n, "duration_s": 2.0}
        for n in numbers
    ]


def test_byte_tally_reads_only_the_segments_fetched() -> None:
    listed = CountingList(1_000_000, first=7, ranged=True)
    reps = {"a": Representation(id="a", bandwidth_bps=64_000, segments=listed)}
    numbers = [7, 8, 500_000, 8]  # segment 8 twice: declared once
    found = _bytes(_downloads("a", numbers), reps)
    assert listed.reads <= 2 * len(numbers)
    assert found == {
        "bytes": sum(1_000 + n for n in numbers),
        "bytes_compared": sum(1_000 + n for n in numbers),
        "declared_bytes": sum(1_000 + n for n in (7, 8, 500_000)),
        "declared_from": "index",
    }


def test_byte_tally_on_segment_runs_builds_one_segment_per_event(
    long_runs: SegmentRuns,
) -> None:
    reps = {"v1": Representation(id="v1", bandwidth_bps=800_000, segments=long_runs)}
    tally = ByteTally(reps)
    before = CountingRuns.built
    for event in _downloads("v1", [1, 2, SEGMENTS]):
        tally.add(event)
    assert CountingRuns.built - before == 3
    summary = tally.summary()
    assert summary["declared_from"] == "bitrate"
    assert summary["declared_bytes"] == 3 * 800_000 * 2.0 / 8


def test_byte_tally_finds_segments_numbered_out_of_order() -> None:
    segments = tuple(
        Segment(
            urls=(f"https://cdn/{n}",),
            number=n,
            start_s=float(i),
            duration_s=1.0,
            byte_range=ByteRange(first=0, last=n - 1),
        )
        for i, n in enumerate([3, 9, 4, 20])
    )
    reps = {"t": Representation(id="t", bandwidth_bps=0, segments=segments)}
    assert _bytes(_downloads("t", [9, 20]), reps)["declared_bytes"] == 29
    # a media segment the manifest does not size: the track's bytes are not compared
    assert _bytes(_downloads("t", [9, 21]), reps) == {
        "bytes": 1_009 + 1_021,
        "declared_bytes": None,
        "declared_from": None,
    }
