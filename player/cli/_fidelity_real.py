"""One real session of a fidelity run: the lab ladder through the network emulator.

Runs in a worker process (``concurrent.futures`` with the ``spawn`` start method): it starts a
lab origin over the ladder (HTTP/3 on aioquic, its own test CA), a ``NetworkEmulator`` in
front of it shaped by the trace (with the plan's delay, loss and queue), and a headless
``Player`` on the real clock with the plan's controller and estimator, over HTTP/3 only.
It returns what the comparison needs as plain JSON values (picklable across processes).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

import abr
from player._clock import RealClock
from player._player import Player
from player.cli._fidelity_inputs import FidelityPlan
from player.config import PlayerConfig
from player.events import Event, SegmentDownloaded, VariantSwitched
from transport import TransportConfig
from transport.lab import LabCdn, NetworkEmulator, TestCA

__all__: list[str] = []

_READY_TIMEOUT_S = 60.0
"""Longest a worker waits for the others to start (``prepare_worker``)."""

_EMULATOR_SLACK_S = 60.0
"""The emulator outlives the session's timeout by this much (it stops by itself after)."""


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class RealJob:
    """What a worker needs to play one trace for real (picklable).

    Attributes:
        name: The trace's name.
        durations_s: The trace's periods, seconds.
        bandwidth_bps: Rate of each period, bit/s.
        content_root: The ladder's folder.
        manifest: Manifest path relative to ``content_root``.
        ids: Representation ids, ascending bitrate (rung ``q`` is ``ids[q]``).
        plan: The run's plan.
        timeout_s: Longest the session may take, real seconds.
        start_delay_s: Wait this long before starting (the first sessions of a run start
            apart, so their start-ups do not compete for the CPU: ``_fidelity.STAGGER_S``).
    """

    name: str
    durations_s: tuple[float, ...]
    bandwidth_bps: tuple[float, ...]
    content_root: str
    manifest: str
    ids: tuple[str, ...]
    plan: FidelityPlan
    timeout_s: float
    start_delay_s: float = 0.0


class _Recorder:
    """Collects each video segment's arrival: time since load, rung, buffer, transfer."""

    def __init__(self, player: Player, ids: tuple[str, ...]) -> None:
        self.player = player
        self.ids = ids
        self.segments: list[dict[str, Any]] = []
        self.first_request_s: float | None = None
        self.abandoned = 0

    def __call__(self, event: Event) -> None:
        if isinstance(event, VariantSwitched) and event.detail == "abandon":
            self.abandoned += 1
        if not isinstance(event, SegmentDownloaded) or event.track != "video":
            return
        if self.first_request_s is None:
            # the first request of any video resource (the init segment) starts the media
            self.first_request_s = event.at_s - event.download_s
        if event.number < 0:
            return
        self.segments.append(
            {
                "number": event.number,
                "rung": self.ids.index(event.representation_id),
                "end_s": event.at_s,  # events count seconds from load()
                "buffer_s": self._buffer_at(event.duration_s),
                "download_s": event.download_s,
                "ttfb_s": event.ttfb_s,
                "nbytes": event.nbytes,
            }
        )

    def _buffer_at(self, added_s: float) -> float:
        """Media buffered ahead of the playhead now, this segment (``added_s``) included.

        The playhead stopped where the buffer ended before this segment arrived (a stall the
        loop has not noticed yet, as it was busy downloading), not at the new end.
        """
        session = self.player._session  # noqa: SLF001 - the CLI reads its own player
        video = session.video() if session is not None else None
        if session is None or video is None:
            return 0.0
        end = video.buffer.buffered_end(session.position_s)
        now = self.player.clock.now()  # listeners are called as the event happens
        position = session.playhead.position_at(now=now, limit_s=end - added_s)
        return max(0.0, end - position)


def prepare_worker(ready: Any) -> None:
    """Pool initializer: wait until every worker has started before any plays.

    By now the worker imported everything a session needs (unpickling this function imported
    this module). Otherwise the first sessions would compete for the CPU with the imports of
    the other workers: on 2 cores that delayed their first requests by 0.1-0.15 s and shifted
    them against the trace (measured, docs/abr.md). ``ready`` is a ``multiprocessing``
    barrier for all the workers; a worker that waits in vain (one failed to start) goes ahead
    after a minute. The first sessions then start ``RealJob.start_delay_s`` apart.
    """
    with contextlib.suppress(threading.BrokenBarrierError):
        ready.wait(timeout=_READY_TIMEOUT_S)


def play_real(job: RealJob) -> dict[str, Any]:
    """Play ``job`` for real and return its records (a worker process's entry point)."""
    return asyncio.run(_play(job))


def _player_config(plan: FidelityPlan, ca_file: str) -> PlayerConfig:
    playback = dataclasses.replace(plan.playback, decode=plan.decode, keep_media=False)
    return PlayerConfig(
        playback=playback, transport=TransportConfig(ca_file=ca_file, protocol="h3")
    )


async def _play(job: RealJob) -> dict[str, Any]:
    plan = job.plan
    trace = abr.NetworkTrace(
        job.name,
        np.array(job.durations_s, dtype=np.float64),
        np.array(job.bandwidth_bps, dtype=np.float64),
        np.zeros(len(job.durations_s)),
    )
    await asyncio.sleep(job.start_delay_s)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="fidelity-ca-") as tmp:
        # The origin and the emulator run on loops of their own (threads), as in the demo.
        # Measured with three sessions at once on the 2-core machine: time to first byte
        # 88 ms (RTT 80 ms) this way, 137 ms with all three on the player's loop, whose
        # every stall from a busy host then delays the other two parts as well.
        cdn = LabCdn(job.content_root, edges=0, ca=TestCA(Path(tmp))).start_in_thread()
        try:
            emulator = NetworkEmulator(
                cdn.origin.base_url,
                trace=trace,
                delay_s=plan.rtt_s / 2,
                loss=plan.loss,
                seed=plan.seed,
                duration_s=job.timeout_s + _EMULATOR_SLACK_S,
                max_queue_s=plan.max_queue_s,
            ).start_in_thread()
            try:
                result = await _session(job, emulator.emulator, cdn.ca_file)
            finally:
                emulator.stop()
            result["emulator"] = dataclasses.asdict(emulator.emulator.stats())
        finally:
            cdn.stop()
    result["wall_s"] = time.monotonic() - started
    return result


async def _session(job: RealJob, emulator: NetworkEmulator, ca_file: str) -> dict[str, Any]:
    plan = job.plan
    player = Player(
        _player_config(plan, ca_file),
        clock=RealClock(),
        controller=abr.make_controller(plan.algorithm),
        estimator=abr.make_estimator(plan.algorithm),
    )
    error: str | None = None
    async with player:
        recorder = _Recorder(player, job.ids)
        player.add_listener(recorder)
        try:
            # the simulated session meets the trace's first second at load(): so does this one
            emulator.restart_trace()
            await player.load(f"{emulator.base_url}/{job.manifest}")
            await player.wait(timeout_s=job.timeout_s)
        except TimeoutError:
            error = f"timeout after {job.timeout_s:.0f} s"
        stats = player.stats()
        state = player.state.value
        if player.error is not None:
            error = f"{getattr(player.error, 'code', 'error')}: {player.error}"
        await player.stop()
    return {
        "state": state,
        "error": error,
        "segments": sorted(recorder.segments, key=lambda s: int(s["number"])),
        "first_request_s": recorder.first_request_s,
        "startup_s": stats.startup_s,
        "rebuffer_s": stats.rebuffer_s,
        "stalls": stats.stall_count,
        "abandoned": recorder.abandoned,
        "frames_decoded": stats.frames_decoded,
        "decode_errors": stats.decode_errors,
        "bytes_downloaded": stats.bytes_downloaded,
    }
