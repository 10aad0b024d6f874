"""Headless QA runs: play a URL to the end and build the report (CLI, demo, CI jobs)."""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from player._clock import RealClock, VirtualClock
from player._player import Player
from player.cli._evidence import collect_evidence
from player.cli._report import build_report
from player.cli._thumbnail_export import export_thumbnails
from player.config import PlayerConfig
from player.events import Event

__all__ = ["play_to_report"]


def status_line(player: Player) -> str:
    """One line: state, position, buffer, bitrate, estimate, stalls, edge."""
    stats = player.stats()
    session = player._session  # noqa: SLF001 - the CLI shows internals of its own player
    video = session.video() if session else None
    bitrate = video.representation().bandwidth_bps if video and video.current is not None else 0
    edge = video.last_edge if video and video.last_edge else "-"
    return (
        f"{player.state.value:<11} pos {player.position_s:7.1f}s  buf {player.buffer_s:5.1f}s  "
        f"video {bitrate / 1e6:5.2f} Mb/s  est {stats.estimated_bandwidth_bps / 1e6:6.2f} Mb/s  "
        f"stalls {stats.stall_count}  edge {edge}"
    )


async def play_to_report(
    url: str,
    config: PlayerConfig,
    *,
    virtual_clock: bool,
    start_at_s: float | None = None,
    stop_after_s: float | None = None,
    timeout_s: float = 3600.0,
    show_status: bool = False,
    on_event: Callable[[Player, Event], None] | None = None,
    extra: dict[str, Any] | None = None,
    identity: dict[str, str] | None = None,
    stop: asyncio.Event | None = None,
    resume: bool = False,
    thumbnails_dir: str | Path | None = None,
    thumbnail_track: str | None = None,
) -> dict[str, Any]:
    """Play ``url`` to the end (or ``stop_after_s``) and return the JSON report.

    When ``stop`` is set (Ctrl-C in the command line) playback stops at once and the report
    describes what was played, with ``final_state`` ``"interrupted"``. ``identity`` gives
    ``viewer_id``, ``title_id`` and ``device_id`` for heartbeats; ``resume`` starts where
    that viewer last stopped the title. With ``thumbnails_dir``, the image track's
    thumbnails for the span played are written there after playback (``thumbnail_track``:
    the image representation, default the best) and counted in the report's ``thumbnails``
    section (docs/thumbnails.md); not after an interruption.
    """
    clock = VirtualClock() if virtual_clock else RealClock()
    started = time.monotonic()
    who = identity or {}
    title_id = who.get("title_id")
    async with Player(
        config, clock=clock, viewer_id=who.get("viewer_id"), device_id=who.get("device_id")
    ) as player:
        if on_event is not None:
            player.add_listener(lambda event: on_event(player, event))
        live = _start_status(player) if show_status else None
        begin = clock.now()  # --stop-after counts from load(), like every event time
        try:
            interrupted = await _until_stopped(
                player.load(url, start_at_s=start_at_s, title_id=title_id, resume=resume), stop
            )
            if not interrupted:
                waiting = _wait(
                    player, begin=begin, stop_after_s=stop_after_s, timeout_s=timeout_s, live=live
                )
                interrupted = await _until_stopped(waiting, stop)
        finally:
            if live is not None:
                live.stop()
        final_state = "interrupted" if interrupted else player.state.value
        if interrupted:  # bounded: undelivered heartbeats stay in the outbox
            try:
                await asyncio.wait_for(player.stop(), _INTERRUPTED_STOP_S)
            except TimeoutError:
                pass
        else:
            await player.stop()
        evidence = collect_evidence(player, stop_after_s=stop_after_s)
        if thumbnails_dir is not None and not interrupted:
            evidence["thumbnails"] = await export_thumbnails(
                player,
                Path(thumbnails_dir),
                span=evidence["span"],
                representation_id=thumbnail_track,
            )
        report = build_report(
            url=url,
            final_state=final_state,
            stats=player.stats().to_json(),
            events=player.event_log(),
            timeline=player.timeline(),
            extra={
                "real_time_s": time.monotonic() - started,
                "clock": "virtual" if virtual_clock else "real",
                **evidence,
                **(extra or {}),
            },
        )
    return report


_POLL_S = 0.25
"""How often the run's status line and limits are looked at, real seconds (not a tunable)."""
_INTERRUPTED_STOP_S = 1.0
"""Longest wait for the player to stop after Ctrl-C (the command must end within 2 s)."""


async def _until_stopped(work: Any, stop: asyncio.Event | None) -> bool:
    """Run ``work``; return ``True`` (and cancel it) if ``stop`` is set first."""
    if stop is None:
        await work
        return False
    task = asyncio.ensure_future(work)
    stopper = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({task, stopper}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopper.cancel()
    if task.done():
        task.result()
        return False
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        pass
    return True


async def _wait(
    player: Player, *, begin: float, stop_after_s: float | None, timeout_s: float, live: Any
) -> None:
    """Wait for the end, or until ``stop_after_s`` of session time since ``begin``."""
    deadline = time.monotonic() + timeout_s
    while True:
        remaining = None if stop_after_s is None else begin + stop_after_s - player.clock.now()
        try:
            await player.wait(timeout_s=_POLL_S if remaining is None else min(_POLL_S, remaining))
            return
        except TimeoutError:
            pass
        if live is not None:
            live.update(status_line(player))
        if stop_after_s is not None and player.clock.now() - begin >= stop_after_s:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"playback did not finish within {timeout_s} s")


class _Status:
    def __init__(self, player: Player) -> None:
        from rich.console import Console
        from rich.live import Live

        self._live = Live(console=Console(stderr=True), refresh_per_second=4, transient=True)
        self._live.start()
        self.update(status_line(player))

    def update(self, text: str) -> None:
        self._live.update(text)

    def stop(self) -> None:
        self._live.stop()


def _start_status(player: Player) -> _Status | None:
    if not sys.stderr.isatty():
        return None
    try:
        return _Status(player)
    except ImportError:
        return None
