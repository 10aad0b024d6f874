"""The session's pure parts: state machine, buffers, playhead, clocks, stats, events."""

from __future__ import annotations

import asyncio
import json

import pytest

from player._buffer import BufferedSegment, Playhead, TrackBuffer
from player._clock import RealClock, VirtualClock
from player._state import PlaybackState, StateMachine
from player._stats import StatsCollector
from player.errors import UsageError
from player.events import (
    BufferingEnded,
    BufferingStarted,
    ErrorOccurred,
    PlaybackStarted,
    SegmentDownloaded,
    SwitchReason,
    VariantSwitched,
    event_to_json,
)


def seg(start: float, end: float, rep: str = "v", bps: int = 1000, n: int = 0) -> BufferedSegment:
    return BufferedSegment(start, end, rep, bps, n)


class TestStateMachine:
    def test_happy_path(self) -> None:
        sm = StateMachine()
        for state in ("loading", "buffering", "playing", "rebuffering", "playing", "ended"):
            sm.move(PlaybackState(state))
        assert sm.state is PlaybackState.ENDED
        assert sm.is_terminal

    def test_refuses_undrawn_transition(self) -> None:
        sm = StateMachine()
        with pytest.raises(UsageError, match="idle to playing"):
            sm.move(PlaybackState.PLAYING)
        assert sm.state is PlaybackState.IDLE

    def test_error_is_terminal_until_reset(self) -> None:
        sm = StateMachine()
        sm.move(PlaybackState.LOADING)
        sm.move(PlaybackState.ERROR)
        assert not sm.can_move(PlaybackState.PLAYING)
        assert sm.move(PlaybackState.IDLE) == (PlaybackState.ERROR, PlaybackState.IDLE)


class TestTrackBuffer:
    def test_level_stops_at_gap(self) -> None:
        buf = TrackBuffer()
        for s, e in ((0, 2), (2, 4), (6, 8)):
            buf.add(seg(s, e))
        assert buf.buffered_end(0.5) == 4.0
        assert buf.level_s(3.0) == pytest.approx(1.0)
        assert buf.level_s(5.0) == 0.0
        assert buf.buffered_end(6.0) == 8.0

    def test_replace_same_start_and_order(self) -> None:
        buf = TrackBuffer()
        buf.add(seg(4, 6, "a"))
        buf.add(seg(0, 2, "a"))
        buf.add(seg(2, 4, "a"))
        buf.add(seg(2, 4, "b", 2000))
        assert [(s.start_s, s.representation_id) for s in buf.segments] == [
            (0, "a"),
            (2, "b"),
            (4, "a"),
        ]

    def test_covering_and_evict(self) -> None:
        buf = TrackBuffer()
        for s in range(0, 10, 2):
            buf.add(seg(s, s + 2, n=s // 2))
        assert [s.number for s in buf.covering(3.0, 6.5)] == [1, 2, 3]
        gone = buf.evict_before(4.0)
        assert [s.number for s in gone] == [0, 1]
        assert len(buf) == 3


class TestPlayhead:
    def test_advances_only_while_running(self) -> None:
        ph = Playhead(position_s=5.0)
        assert ph.advance(now=10.0, limit_s=100.0) == (5.0, None)
        ph.start(now=10.0)
        assert ph.advance(now=12.5, limit_s=100.0) == (7.5, None)
        ph.stop(now=13.0, limit_s=100.0)
        assert ph.position_s == pytest.approx(8.0)
        assert ph.advance(now=20.0, limit_s=100.0) == (8.0, None)

    def test_reports_exact_time_the_limit_was_hit(self) -> None:
        ph = Playhead(position_s=0.0)
        ph.start(now=0.0)
        pos, hit = ph.advance(now=10.0, limit_s=4.0)
        assert pos == 4.0
        assert hit == pytest.approx(4.0)


class TestClocks:
    def test_virtual_clock_jumps_when_idle(self) -> None:
        clock = VirtualClock(start_s=0.0)
        asyncio.run(clock.sleep(3600.0))
        assert 3600.0 <= clock.now() < 3610.0

    def test_virtual_clock_waits_for_real_while_busy(self) -> None:
        clock = VirtualClock(start_s=0.0)

        async def run() -> float:
            with clock.busy():
                await clock.sleep(0.05)
            return clock.now()

        elapsed = asyncio.run(run())
        assert 0.05 <= elapsed < 5.0

    def test_virtual_clock_never_jumps_during_real_work(self) -> None:
        clock = VirtualClock(start_s=0.0)
        seen: dict[str, float] = {}

        async def worker() -> None:
            with clock.busy():
                await asyncio.sleep(0.1)
                seen["work_done"] = clock.now()

        async def sleeper() -> None:
            await clock.sleep(100.0)
            seen["woke"] = clock.now()

        async def run() -> None:
            await asyncio.gather(worker(), sleeper())

        asyncio.run(run())
        assert 0.1 <= seen["work_done"] < 2.0
        assert 100.0 <= seen["woke"] < 102.0

    def test_real_clock_is_monotonic(self) -> None:
        clock = RealClock()
        a = clock.now()
        asyncio.run(clock.sleep(0.01))
        assert clock.now() - a >= 0.009


class TestStats:
    def test_figures_from_events(self) -> None:
        c = StatsCollector()
        c.on_event(PlaybackStarted(at_s=0.3, startup_s=0.3, position_s=0.0))
        for edge, proto in (("https://a", "h3"), ("https://a", "h3"), ("https://b", "h1")):
            c.on_event(
                SegmentDownloaded(
                    at_s=1.0,
                    track="video",
                    representation_id="v1",
                    number=1,
                    nbytes=1000,
                    duration_s=2.0,
                    download_s=0.1,
                    ttfb_s=0.01,
                    protocol=proto,
                    edge=edge,
                )
            )
        c.on_event(
            VariantSwitched(
                at_s=0.1, from_id=None, to_id="v1", bitrate_bps=1, reason=SwitchReason.INITIAL
            )
        )
        c.on_event(
            VariantSwitched(
                at_s=5, from_id="v1", to_id="v2", bitrate_bps=2, reason=SwitchReason.ADAPTIVE
            )
        )
        c.on_event(BufferingStarted(at_s=6.0, position_s=5.0))
        c.on_event(BufferingEnded(at_s=7.0, position_s=5.0, stalled_s=1.0))
        c.on_event(ErrorOccurred(at_s=8.0, code="transport.read", message="x", fatal=False))
        c.on_played(bitrate_bps=1000, seconds=9.0)
        s = c.snapshot()
        assert s.startup_s == 0.3
        assert s.bytes_by_edge == {"https://a": 2000, "https://b": 1000}
        assert s.bytes_by_protocol == {"h3": 2000, "h1": 1000}
        assert s.switch_count == 1
        assert s.stall_count == 1
        assert s.rebuffer_ratio == pytest.approx(0.1)
        assert s.errors_by_code == {"transport.read": 1}
        assert json.loads(json.dumps(s.to_json()))["time_at_bitrate_s"] == {"1000": 9.0}


def test_event_json_drops_exception_objects() -> None:
    ev = ErrorOccurred(at_s=1.0, code="c", message="m", fatal=True, error=ValueError("x"))
    assert event_to_json(ev) == {
        "type": "ErrorOccurred",
        "at_s": 1.0,
        "code": "c",
        "message": "m",
        "fatal": True,
    }
