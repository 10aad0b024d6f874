"""The cue store and tracker: one cue per cue however segments cut it, crossings timed exactly."""

from __future__ import annotations

import pytest

from player.events import Cue
from player.text import CueStore, CueTracker, IntervalSet


def cue(start: float, end: float, text: str, **kw: object) -> Cue:
    return Cue(start_s=start, end_s=end, text=text, format="webvtt", **kw)  # type: ignore[arg-type]


def test_store_joins_repeats_and_pieces_and_keeps_distinct_cues() -> None:
    store = CueStore(max_cues=100)
    assert store.add([cue(1.0, 3.0, "a"), cue(3.5, 4.0, "b")]) == 2
    assert store.add([cue(1.0, 3.0, "a"), cue(3.5, 4.0, "b")]) == 0  # repeated by a segment
    assert store.add([cue(4.0, 6.0, "b")]) == 0  # the rest of b, split at a boundary
    assert store.add([cue(2.0, 2.5, "a", settings=(("align", "end"),))]) == 1  # another cue
    assert [(c.start_s, c.end_s, c.text) for c in store.cues] == [
        (1.0, 3.0, "a"),
        (2.0, 2.5, "a"),
        (3.5, 6.0, "b"),
    ]
    assert [c.text for c in store.at(2.2)] == ["a", "a"]
    assert store.at(6.0) == ()
    assert store.next_boundary_after(3.0, store.at(3.0)) == 3.5
    assert store.next_boundary_after(4.0, store.at(4.0)) == 6.0


def test_store_bound_drops_the_cues_furthest_from_the_playhead() -> None:
    store = CueStore(max_cues=3)
    store.add([cue(float(i), i + 0.5, f"c{i}") for i in range(5)], keep_near_s=3.0)
    assert [c.text for c in store.cues] == ["c2", "c3", "c4"]
    assert store.dropped == 2


def test_tracker_times_each_crossing_from_the_position() -> None:
    store = CueStore(max_cues=100)
    store.add([cue(1.0, 2.0, "a"), cue(2.0, 2.5, "b"), cue(2.2, 5.0, "c")])
    tracker = CueTracker()
    assert tracker.sync(store, position_s=0.0, now=100.0) == []
    # the loop slept from position 0 (session 100 s) to 3 (session 103 s): all of it at once
    changes = tracker.advance(store, from_s=0.0, to_s=3.0, now=103.0)
    assert [(c.is_entered, c.cue.text, c.at, c.position_s) for c in changes] == [
        (True, "a", 101.0, 1.0),
        (False, "a", 102.0, 2.0),  # exits before entries at the same position
        (True, "b", 102.0, 2.0),
        (True, "c", 102.2, 2.2),
        (False, "b", 102.5, 2.5),
    ]
    assert [c.text for c in tracker.active] == ["c"]
    # a seek back into a span already loaded: c leaves, a enters again at once
    changes = tracker.sync(store, position_s=1.5, now=110.0)
    assert [(c.is_entered, c.cue.text, c.at) for c in changes] == [
        (False, "c", 110.0),
        (True, "a", 110.0),
    ]
    cleared = tracker.clear(now=111.0, position_s=1.6)
    assert [(c.is_entered, c.cue.text, c.position_s) for c in cleared] == [(False, "a", 1.6)]


def test_tracker_keeps_a_cue_extended_while_shown() -> None:
    store = CueStore(max_cues=100)
    store.add([cue(1.0, 2.0, "long")])
    tracker = CueTracker()
    tracker.advance(store, from_s=0.0, to_s=1.5, now=1.5)
    store.add([cue(2.0, 4.0, "long")])  # the next segment carries its rest
    assert tracker.sync(store, position_s=1.5, now=1.6) == []
    changes = tracker.advance(store, from_s=1.5, to_s=4.5, now=4.5)
    assert [(c.is_entered, c.cue.end_s, c.at) for c in changes] == [(False, 4.0, 4.0)]


@pytest.mark.parametrize(
    ("added", "expected"),
    [
        ([(0.0, 1.0), (1.0005, 2.0)], [(0.0, 2.0)]),
        ([(2.0, 3.0), (0.0, 1.0), (0.5, 2.5)], [(0.0, 3.0)]),
        ([(0.0, 1.0), (3.0, 3.0)], [(0.0, 1.0)]),
    ],
)
def test_interval_set(
    added: list[tuple[float, float]], expected: list[tuple[float, float]]
) -> None:
    spans = IntervalSet.of(added)
    assert spans.intervals == expected
    assert spans.contains(expected[0][0], expected[0][1])
    assert not spans.contains(expected[0][0], expected[-1][1] + 1.0)
