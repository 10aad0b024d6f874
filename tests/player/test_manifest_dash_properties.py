"""Properties of DASH segment expansion, checked against a brute-force oracle (hypothesis).

The live window is computed arithmetically per run of equal segments; the oracle expands every
segment of the same timeline and filters it with the DASH-IF availability formula.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from player.manifest import Segment, parse_dash

URL = "https://cdn.example.com/a/manifest.mpd"
AST = 1_600_000_000.0
TIMESCALE = 1000
PROPS = settings(max_examples=60, deadline=None)

runs = st.lists(
    st.tuples(st.integers(1, 5000), st.integers(0, 40)),  # (d, r) in ms
    min_size=1,
    max_size=6,
)


def timeline_mpd(entries: list[tuple[int, int]], *, first_t: int, head: str) -> bytes:
    s = "".join(
        f'<S t="{first_t}" d="{d}" r="{r}"/>' if i == 0 else f'<S d="{d}" r="{r}"/>'
        for i, (d, r) in enumerate(entries)
    )
    return (
        f'<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" {head}><Period start="PT0S">'
        '<AdaptationSet mimeType="video/mp4">'
        f'<SegmentTemplate timescale="{TIMESCALE}" media="$Number$-$Time$.m4s">'
        f"<SegmentTimeline>{s}</SegmentTimeline></SegmentTemplate>"
        '<Representation id="v" bandwidth="1"/></AdaptationSet></Period></MPD>'
    ).encode()


def segments(data: bytes, now: float | None = None) -> tuple[Segment, ...]:
    (rep,) = list(parse_dash(data, url=URL, now=now).representations())
    assert rep.segments is not None
    return rep.segments


@PROPS
@given(entries=runs, first_t=st.integers(0, 10**6))
def test_static_timeline_is_contiguous_and_complete(
    entries: list[tuple[int, int]], first_t: int
) -> None:
    total_ms = sum(d * (r + 1) for d, r in entries)
    head = f'type="static" mediaPresentationDuration="PT{(first_t + total_ms) / 1000}S"'
    segs = segments(timeline_mpd(entries, first_t=first_t, head=head))
    assert len(segs) == sum(r + 1 for _, r in entries)
    assert [s.number for s in segs] == list(range(1, len(segs) + 1))
    assert segs[0].start_s == first_t / 1000
    for a, b in zip(segs, segs[1:], strict=False):
        assert abs(a.end_s - b.start_s) < 1e-9
        t = round(b.start_s * 1000)
        assert b.url.endswith(f"/{b.number}-{t}.m4s")


@PROPS
@given(
    entries=runs,
    tsbd=st.one_of(st.none(), st.integers(1, 60)),
    offset=st.floats(-5, 400, allow_nan=False),
)
def test_live_window_matches_brute_force(
    entries: list[tuple[int, int]], tsbd: int | None, offset: float
) -> None:
    now = AST + offset
    window = "" if tsbd is None else f' timeShiftBufferDepth="PT{tsbd}S"'
    live = f'type="dynamic" availabilityStartTime="2020-09-13T12:26:40Z"{window}'
    static = 'type="static" mediaPresentationDuration="PT100000S"'
    every = segments(timeline_mpd(entries, first_t=0, head=static))
    expected = [
        s.number
        for s in every
        if AST + s.end_s <= now and (tsbd is None or now < AST + s.end_s + tsbd)
    ]
    got = segments(timeline_mpd(entries, first_t=0, head=live), now=now)
    assert [s.number for s in got] == expected
    for s in got:
        assert s.available_from is not None and s.available_from <= now
        assert s.available_until is None or s.available_until > now


@PROPS
@given(
    d=st.integers(100, 10_000),
    start_number=st.integers(0, 10**6),
    period_start=st.integers(0, 1000),
    tsbd=st.integers(1, 120),
    offset=st.floats(0, 5000, allow_nan=False),
)
def test_live_number_template_matches_brute_force(
    d: int, start_number: int, period_start: int, tsbd: int, offset: float
) -> None:
    now = AST + offset
    data = (
        '<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="dynamic" '
        f'availabilityStartTime="2020-09-13T12:26:40Z" timeShiftBufferDepth="PT{tsbd}S">'
        f'<Period start="PT{period_start}S"><AdaptationSet mimeType="video/mp4">'
        f'<SegmentTemplate timescale="1000" duration="{d}" startNumber="{start_number}" '
        'media="$Number%06d$.m4s"/><Representation id="v" bandwidth="1"/>'
        "</AdaptationSet></Period></MPD>"
    ).encode()
    got = segments(data, now=now)
    expected = []
    k = 0
    while period_start + k * d / 1000 < offset:  # every segment that started before now
        end = period_start + (k + 1) * d / 1000
        if AST + end <= now < AST + end + tsbd:
            expected.append(start_number + k)
        k += 1
    assert [s.number for s in got] == expected
    assert all(s.url.endswith(f"/{s.number:06d}.m4s") for s in got)
