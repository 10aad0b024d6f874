"""Long presentations made of a short generated clip, for benchmarks of long sessions.

``LoopedContent`` serves a clip of ``k`` segments as a presentation of ``segments`` segments:
segment *n* is the clip's segment ``(n - 1) % k + 1``. It is the lab's ``LiveContent`` (a
dynamic MPD with a ``SegmentTemplate`` ``$Number$`` and sliding HLS media playlists, or,
once the event is over, a static MPD and playlists with ENDLIST) over a clip whose segment
list was repeated. With decoding off, the player reads no media timestamps, so a repeated
segment plays as well as a new one would.

``SharedClock`` lets a lab in another process publish segments on the player's virtual
clock: the player's ``VirtualClock`` writes each ``now()`` to shared memory and the
child's ``LiveContent`` reads it (the player reads its clock before each request, so the
server never lags behind the request it answers).
"""

from __future__ import annotations

import dataclasses
import multiprocessing as mp
import time
from collections.abc import Callable
from typing import Any

from player import VirtualClock
from player.lab import ContentInfo, LiveContent
from transport.lab import DirectoryContent, Resource

PATHS = {"dash": "/live/manifest.mpd", "hls": "/live/master.m3u8"}


class LoopedContent:
    """A ``Content`` for the lab CDN: ``info``'s clip repeated to ``segments`` segments.

    Args:
        info: The generated clip.
        segments: Segments of the long presentation.
        window_s: Time-shift window of the live event (``timeShiftBufferDepth``).
        start_s: When the event started (UTC epoch s); 0 gives a finished event (VOD).
        clock: The event's wall clock.
    """

    def __init__(
        self,
        info: ContentInfo,
        *,
        segments: int,
        window_s: float,
        start_s: float = 0.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.clip = min(len(t.segments) for t in info.tracks)
        tracks = tuple(
            dataclasses.replace(t, segments=(t.segments[0],) * segments) for t in info.tracks
        )
        long_info = dataclasses.replace(info, tracks=tracks)
        self.live = LiveContent(long_info, window_s=window_s, start_s=start_s, clock=clock)
        self._files = DirectoryContent(info.root)

    def lookup(self, path: str) -> Resource | None:
        head, _, name = path.rpartition("/")
        if name.startswith("seg-") and name.endswith(".m4s") and name[4:-4].isdigit():
            number = int(name[4:-4])
            if number > self.live.available():
                return None
            return self._files.lookup(f"{head}/seg-{(number - 1) % self.clip + 1}.m4s")
        return self.live.lookup(path)


class SharedClock(VirtualClock):
    """A ``VirtualClock`` that publishes its time (UTC epoch s) for a lab in another process."""

    def __init__(self, value: Any) -> None:
        super().__init__(start_s=time.time())
        self._value = value
        self._value.value = self.now()

    def now(self) -> float:
        now = super().now()
        self._value.value = now
        return now


def shared_value() -> Any:
    """A double in shared memory (no lock: one writer, torn reads are impossible for it)."""
    value = mp.get_context("spawn").RawValue("d", time.time())
    return value
