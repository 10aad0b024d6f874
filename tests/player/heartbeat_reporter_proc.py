"""A reporting process for the durability test: produce heartbeats, then deliver the outbox.

Usage: ``python heartbeat_reporter_proc.py --outbox F --url U --ca-file C --token T --count N``

Prints ``queued <seq>`` after each heartbeat is durably queued, ``produced`` when all N are,
and ``flushed <json stats>`` once the outbox is empty; then exits 0. ``--count 0`` only
delivers what a previous run left behind.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import time

from heartbeat_support import service_call

from player import (
    HeartbeatConfig,
    HeartbeatDelivery,
    HeartbeatReporter,
    HeartbeatTrigger,
    PlaybackSnapshot,
)


async def main(args: argparse.Namespace) -> None:
    config = HeartbeatConfig(
        service_url=args.url,
        headers={"Authorization": f"Bearer {args.token}"},
        outbox_path=args.outbox,
        interval_s=10.0,
        max_batch=args.batch,
        retry_base_delay_s=0.05,
        retry_max_delay_s=0.2,
    )
    async with service_call(args.ca_file) as call, HeartbeatDelivery(config, call=call) as out:
        if args.count:
            reporter = HeartbeatReporter.for_session(
                config, out, viewer_id="alice", title_id="title-1", device_id=args.device
            )
            await produce(reporter, args.count)
        print("produced", flush=True)
        await out.flush()
        stats = await out.stats()
        print("flushed", json.dumps(dataclasses.asdict(stats.outbox)), flush=True)


async def produce(reporter: HeartbeatReporter, count: int) -> None:
    now = 0.0
    for n in range(count):
        snap = PlaybackSnapshot(
            position_s=now, state="playing", bitrate_bps=2_000_000, buffer_s=10.0
        )
        if n == 0:
            hb = await reporter.notify(HeartbeatTrigger.START, snap, now=now, wall_s=time.time())
        elif n % 7 == 0:
            hb = await reporter.notify(HeartbeatTrigger.SEEK, snap, now=now, wall_s=time.time())
        else:
            hb = await reporter.tick(snap, now=now, wall_s=time.time())
        assert hb is not None and hb.seq == n
        print("queued", hb.seq, flush=True)
        now += 10.0


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    for name in ("--outbox", "--url", "--ca-file", "--token"):
        parser.add_argument(name, required=True)
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--device", default="tv")
    asyncio.run(main(parser.parse_args()))
