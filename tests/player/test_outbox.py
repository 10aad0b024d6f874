"""The durable outbox on a real SQLite file: order, persistence, the bound rule, counters."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from player import Heartbeat, HeartbeatError, Outbox


def hb(session: str, seq: int) -> Heartbeat:
    return Heartbeat(
        id=f"{session}:{seq}",
        session_id=session,
        seq=seq,
        viewer_id="alice",
        title_id="t",
        device_id="tv",
        position_s=float(seq),
        state="playing",
        bitrate_bps=1,
        buffer_s=1.0,
        ts=1_700_000_000.0 + seq,
    )


def seqs(box: Outbox, limit: int = 100) -> list[tuple[str, int]]:
    return [(e.session_id, json.loads(e.body)["seq"]) for e in box.peek_batch(limit)]


def test_batches_are_one_session_in_order_and_survive_reopening(tmp_path: Path) -> None:
    path = str(tmp_path / "outbox.db")
    box = Outbox(path, max_heartbeats=100)
    for n in range(3):
        box.put(hb("a", n), is_state_change=True)
        box.put(hb("b", n), is_state_change=False)
    assert seqs(box) == [("a", 0), ("a", 1), ("a", 2)]
    assert seqs(box, limit=2) == [("a", 0), ("a", 1)]
    following = box.advance(box.peek_batch(2), outcome="delivered", limit=5)
    # a:0 and a:1 are gone; b:0 is now the oldest, so b's batch is next
    assert [(e.session_id, json.loads(e.body)["seq"]) for e in following] == [
        ("b", 0),
        ("b", 1),
        ("b", 2),
    ]
    box.close()

    again = Outbox(path, max_heartbeats=100)
    # b:0 is now the oldest queued heartbeat, so b's batch comes before a:2
    assert seqs(again) == [("b", 0), ("b", 1), ("b", 2)]
    assert json.loads(again.peek_batch(1)[0].body) == hb("b", 0).to_json()
    again.remove(again.peek_batch(10), outcome="rejected")
    assert seqs(again) == [("a", 2)]
    stats = again.stats()
    assert (stats.pending, stats.delivered, stats.rejected) == (1, 2, 3)


def test_bound_coalesces_superseded_periodic_heartbeats_first(tmp_path: Path) -> None:
    box = Outbox(str(tmp_path / "o.db"), max_heartbeats=4)
    box.put(hb("a", 0), is_state_change=True)
    box.put(hb("a", 1), is_state_change=False)
    box.put(hb("b", 0), is_state_change=False)  # no later heartbeat of b: not coalescable
    box.put(hb("a", 2), is_state_change=False)
    box.put(hb("a", 3), is_state_change=True)  # full: a:1 goes (oldest superseded periodic)
    box.put(hb("b", 1), is_state_change=True)  # full: a:2 goes (b:0 has no later b yet)
    assert (box.stats().coalesced, box.stats().dropped, box.stats().pending) == (2, 0, 4)
    rows = [(e.session_id, json.loads(e.body)["seq"]) for e in _all(box)]
    assert rows == [("a", 0), ("a", 3), ("b", 0), ("b", 1)]


def test_bound_drops_oldest_when_nothing_coalesces(tmp_path: Path) -> None:
    box = Outbox(str(tmp_path / "o.db"), max_heartbeats=3)
    for n in range(5):
        box.put(hb("a", n), is_state_change=True)
    assert seqs(box) == [("a", 2), ("a", 3), ("a", 4)]
    stats = box.stats()
    assert (stats.dropped, stats.coalesced, stats.pending) == (2, 0, 3)
    box.close()
    assert Outbox(str(tmp_path / "o.db"), max_heartbeats=3).stats().dropped == 2


def test_memory_outbox_and_bad_files(tmp_path: Path) -> None:
    box = Outbox(None, max_heartbeats=10)
    box.put(hb("a", 0), is_state_change=True)
    assert box.stats().pending == 1
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"not a database at all" * 100)
    with pytest.raises(HeartbeatError, match="junk.db"):
        Outbox(str(junk), max_heartbeats=10)
    closed = Outbox(str(tmp_path / "c.db"), max_heartbeats=10)
    closed.close()
    with pytest.raises(HeartbeatError):
        closed.put(hb("a", 0), is_state_change=True)


def _all(box: Outbox) -> list:  # type: ignore[type-arg]
    out = []
    while batch := box.peek_batch(100):
        out += batch
        box.remove(batch, outcome="delivered")
    return out
