"""Heartbeat figures: what the reference service stores per second, and what a reporter costs.

    python benchmarks/bench_heartbeats.py [--reporters 100] [--per-reporter 40] [--runs 3]

1. Throughput: the session service runs as its own process (``python -m player sessions
   serve``, HTTPS on loopback, SQLite). N reporters in this process (one viewer, device,
   durable outbox and transport ``HttpClient`` each) queue heartbeats as fast as they can
   and deliver them one per request (``max_batch=1``, the steady state of real players) and
   then batched (``max_batch=100``, an outbox draining after an outage). Figure: heartbeats
   stored by the service per second of wall time, until the last is stored.
2. Reporter CPU per heartbeat: process CPU time of this process during run 1 (scheduler,
   outbox, HTTP/TLS, everything) divided by heartbeats; plus the sans-I/O core alone and
   core + durable outbox without the network.

Every figure is the median of ``--runs`` runs. The reporters and the service share the
machine, so the throughput is a whole-system figure for this machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from player import (
    HeartbeatConfig,
    HeartbeatDelivery,
    HeartbeatReporter,
    HeartbeatScheduler,
    HeartbeatTrigger,
    Outbox,
    PlaybackSnapshot,
    SessionIdentity,
    http_call_via,
)
from transport import HttpClient, Protocol, RetryConfig, TransportConfig

ROOT = Path(__file__).resolve().parents[1]
PROTOCOL: list[Protocol] = ["auto"]
OUTBOX_DIR: list[str | None] = [None]
SNAP = PlaybackSnapshot(position_s=1.0, state="playing", bitrate_bps=3_000_000, buffer_s=12.0)


def start_service(db: Path, reporters: int) -> tuple[subprocess.Popen[str], dict[str, str]]:
    tokens = [arg for n in range(reporters) for arg in ("--token", f"v{n}=tok-{n}")]
    proc = subprocess.Popen(
        [sys.executable, "-m", "player", "sessions", "serve", "--db", str(db), *tokens],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert proc.stdout is not None
    info: dict[str, str] = json.loads(proc.stdout.readline())
    return proc, info


def stored(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        count: int = conn.execute("SELECT COUNT(*) FROM heartbeats").fetchone()[0]
    return count


async def reporter_run(
    n: int, info: dict[str, str], workdir: Path, *, count: int, batch: int, go: Go
) -> None:
    protocol: Protocol = PROTOCOL[0]
    config = HeartbeatConfig(
        service_url=info["base_url"],
        headers={"Authorization": f"Bearer tok-{n}"},
        outbox_path=str(workdir / f"outbox-{n}.db"),
        max_batch=batch,
        retry_base_delay_s=0.05,
        retry_max_delay_s=0.5,
    )
    transport = TransportConfig(
        ca_file=info["ca_file"], protocol=protocol, retry=RetryConfig(max_attempts=2)
    )
    async with HttpClient(transport) as client:
        async with HeartbeatDelivery(config, call=http_call_via(client)) as delivery:
            reporter = HeartbeatReporter.for_session(
                config, delivery, viewer_id=f"v{n}", title_id="t", device_id=f"d{n}"
            )
            now = 0.0
            # warm-up, not timed: outbox file, connection, TLS/QUIC handshake, session start
            await reporter.notify(HeartbeatTrigger.START, SNAP, now=now, wall_s=time.time())
            await delivery.flush()
            await go.ready()
            for _ in range(count):
                now += config.interval_s
                await reporter.tick(SNAP, now=now, wall_s=time.time())
            await delivery.flush()


class Go:
    """Start line: the timed part begins once every reporter has warmed up."""

    def __init__(self, parties: int) -> None:
        self._left = parties
        self._event = asyncio.Event()
        self.started_at = 0.0
        self.cpu_at = 0.0

    async def ready(self) -> None:
        self._left -= 1
        if self._left == 0:
            self.started_at, self.cpu_at = time.perf_counter(), time.process_time()
            self._event.set()
        await self._event.wait()


def service_cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def throughput(
    info: dict[str, str], db: Path, pid: int, *, reporters: int, count: int, batch: int
) -> tuple[float, float, float]:
    """Return (heartbeats stored per second, reporter and service CPU s per heartbeat)."""
    go = Go(reporters)
    with tempfile.TemporaryDirectory(dir=OUTBOX_DIR[0]) as tmp:
        runs = [
            reporter_run(n, info, Path(tmp), count=count, batch=batch, go=go)
            for n in range(reporters)
        ]
        task = asyncio.gather(*runs)
        while go.started_at == 0.0:
            await asyncio.sleep(0.001)
        before, service0 = stored(db), service_cpu_s(pid)
        await task
        wall, cpu = time.perf_counter() - go.started_at, time.process_time() - go.cpu_at
        service = service_cpu_s(pid) - service0
    total = stored(db) - before
    assert total == reporters * count, (total, reporters * count)
    return total / wall, cpu / total, service / total


def core_cost(count: int) -> float:
    ident = SessionIdentity(session_id="bench", viewer_id="v", title_id="t", device_id="d")
    sched = HeartbeatScheduler(HeartbeatConfig(), ident)
    sched.on_event(HeartbeatTrigger.START, SNAP, now=0.0, wall_s=1.7e9)
    cpu0 = time.process_time()
    for n in range(1, count + 1):
        hb = sched.on_tick(SNAP, now=n * 10.0, wall_s=1.7e9 + n)
        assert hb is not None
        hb.encode()
    return (time.process_time() - cpu0) / count


def outbox_cost(count: int) -> float:
    ident = SessionIdentity(session_id="bench", viewer_id="v", title_id="t", device_id="d")
    sched = HeartbeatScheduler(HeartbeatConfig(), ident)
    sched.on_event(HeartbeatTrigger.START, SNAP, now=0.0, wall_s=1.7e9)
    with tempfile.TemporaryDirectory() as tmp:
        box = Outbox(str(Path(tmp) / "o.db"), max_heartbeats=count + 1)
        cpu0 = time.process_time()
        for n in range(1, count + 1):
            hb = sched.on_tick(SNAP, now=n * 10.0, wall_s=1.7e9 + n)
            assert hb is not None
            box.put(hb, is_state_change=False)
            box.remove(box.peek_batch(1), outcome="delivered")
        cost = (time.process_time() - cpu0) / count
        box.close()
    return cost


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reporters", type=int, default=100)
    parser.add_argument("--per-reporter", type=int, default=40)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--protocol", choices=["auto", "h3", "h1"], default="auto")
    parser.add_argument(
        "--outbox-dir",
        default=None,
        help="where the reporters' outboxes live (e.g. /dev/shm: 100 simulated devices then"
        " do not queue on one disk's fsyncs)",
    )
    args = parser.parse_args()
    PROTOCOL[0] = args.protocol
    OUTBOX_DIR[0] = args.outbox_dir
    results: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "sessions.db"
        proc, info = start_service(db, args.reporters)
        try:
            for _ in range(args.runs):
                for batch in (1, 100):
                    rate, cpu, service = asyncio.run(
                        throughput(
                            info,
                            db,
                            proc.pid,
                            reporters=args.reporters,
                            count=args.per_reporter,
                            batch=batch,
                        )
                    )
                    results.setdefault(f"stored_per_s_batch{batch}", []).append(rate)
                    results.setdefault(f"reporter_cpu_us_per_hb_batch{batch}", []).append(cpu * 1e6)
                    results.setdefault(f"service_cpu_us_per_hb_batch{batch}", []).append(
                        service * 1e6
                    )
                results.setdefault("core_cpu_us_per_hb", []).append(core_cost(20_000) * 1e6)
                results.setdefault("core_outbox_cpu_us_per_hb", []).append(outbox_cost(500) * 1e6)
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    print(
        f"reporters={args.reporters} heartbeats/reporter={args.per_reporter} runs={args.runs}"
        f" protocol={args.protocol} outbox_dir={args.outbox_dir} cpus={os.cpu_count()}"
    )
    for name, values in results.items():
        runs = [round(v, 1) for v in values]
        print(f"{name:34s} median {statistics.median(values):10.1f}   runs {runs}")
    for batch in (1, 100):
        cpu_us = statistics.median(results[f"service_cpu_us_per_hb_batch{batch}"])
        if cpu_us > 0:
            print(
                f"service capacity per core, batch {batch:<3d}  ~{1e6 / cpu_us:8.0f} heartbeats/s"
            )


if __name__ == "__main__":
    main()
