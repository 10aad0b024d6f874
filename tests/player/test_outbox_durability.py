"""Nothing lost, nothing doubled: a real reporting process, SIGKILLed twice, against the service.

The service is down while 200 heartbeats are produced; the first process is killed while
producing, the second produces the rest, the service comes back, and the second process is
killed again in the middle of delivering (so some heartbeats were sent but never removed from
the outbox). A third process delivers what is left. Every heartbeat must reach the service
exactly once, in order within its session.

"Nothing doubled" is only worth checking if something was sent twice: the service's first
answer is lost on the way back (its front resets the connection after the service stored the
batch), so the client must send that batch again. The front counts what went over the wire;
the store must still hold each heartbeat once.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import pytest
from heartbeat_support import TOKENS, ManualClock, free_port, running_service

from transport.lab import TestCA

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
TOTAL = 200


def spawn(args: list[str]) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{HERE}"}
    return subprocess.Popen(
        [sys.executable, str(HERE / "heartbeat_reporter_proc.py"), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def read_until(stream: IO[str], prefix: str, deadline: float) -> str:
    while time.monotonic() < deadline:
        line = stream.readline()
        if not line:
            break
        if line.startswith(prefix):
            return line
    raise AssertionError(f"no line starting with {prefix!r}")


def queued(outbox: Path) -> dict[str, list[int]]:
    """Read the outbox file directly: session -> seqs still queued, in queue order."""
    with sqlite3.connect(outbox) as db:
        rows = db.execute("SELECT session_id, body FROM outbox ORDER BY rowid").fetchall()
    found: dict[str, list[int]] = {}
    for session, body in rows:
        found.setdefault(session, []).append(json.loads(body)["seq"])
    return found


@pytest.fixture
def procs() -> Iterator[list[subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []
    yield started
    for proc in started:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()


def test_every_heartbeat_arrives_exactly_once_across_kills(
    tmp_path: Path, procs: list[subprocess.Popen[str]]
) -> None:
    deadline = time.monotonic() + 45
    outbox = tmp_path / "outbox.db"
    ca = TestCA(tmp_path / "ca")
    port = free_port()
    clock = ManualClock(time.time())  # the reporters stamp heartbeats with the real clock
    with running_service(tmp_path, ca=ca, port=port, start=False, clock=clock) as svc:
        common = ["--outbox", str(outbox), "--url", svc.base_url, "--ca-file", str(ca.ca_file)]
        common += ["--token", TOKENS["alice"]]

        # 1. service down; the first process is killed while it is producing
        first = spawn([*common, "--count", str(TOTAL)])
        procs.append(first)
        assert first.stdout is not None
        read_until(first.stdout, "queued 59", deadline)
        first.send_signal(signal.SIGKILL)
        assert first.wait(timeout=10) == -signal.SIGKILL
        before = queued(outbox)
        assert len(before) == 1
        ((session_a, seqs_a),) = before.items()
        assert seqs_a == list(range(len(seqs_a))) and 60 <= len(seqs_a) < TOTAL

        # 2. restarted, it produces the rest (service still down), in small batches
        rest = TOTAL - len(seqs_a)
        second = spawn([*common, "--count", str(rest), "--batch", "3", "--device", "phone"])
        procs.append(second)
        assert second.stdout is not None
        read_until(second.stdout, "produced", deadline)
        assert sum(len(s) for s in queued(outbox).values()) == TOTAL

        # 3. the service comes back, and its first answer is lost; kill the process in the
        #    middle of delivering
        svc.wire.lose_answers = 1
        svc.server.start()
        while len(svc.app.store.received("alice")) < 40:
            assert time.monotonic() < deadline and second.poll() is None
            time.sleep(0.005)
        second.send_signal(signal.SIGKILL)
        second.wait(timeout=10)
        assert len(svc.app.store.received("alice")) < TOTAL

        # 4. a third start delivers what is left
        third = spawn([*common, "--count", "0"])
        procs.append(third)
        assert third.stdout is not None
        flushed = read_until(third.stdout, "flushed", deadline)
        assert json.loads(flushed.split(" ", 1)[1])["pending"] == 0
        assert third.wait(timeout=10) == 0

        received = svc.app.store.received("alice")
        wire = svc.wire.heartbeat_counts()
        (lost,) = [r for r in svc.wire.records if r.is_lost]
    sessions = {s for s, _ in received}
    assert session_a in sessions and len(sessions) == 2
    (session_b,) = sessions - {session_a}
    assert queued(outbox) == {}
    # on the wire: every heartbeat, and the batch whose answer was lost twice or more
    assert set(wire) == {f"{s}:{q}" for s, q in received}
    assert lost.heartbeat_ids == tuple(f"{session_a}:{q}" for q in range(3))  # the first batch
    assert all(wire[i] >= 2 for i in lost.heartbeat_ids)
    assert sum(wire.values()) >= TOTAL + len(lost.heartbeat_ids)
    # in the store: each exactly once, in order within its session, whatever the wire carried
    assert len(received) == TOTAL
    assert [q for s, q in received if s == session_a] == list(range(len(seqs_a)))
    assert [q for s, q in received if s == session_b] == list(range(rest))
