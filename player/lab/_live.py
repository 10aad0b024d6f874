"""A live window over generated content, for the lab CDN (``transport.lab.LabCdn``).

``LiveContent`` publishes the segments of a ``ContentInfo`` as if they were being
encoded now: segment *n* becomes available when its end time has passed since the
start, a dynamic MPD (``SegmentTemplate`` ``$Number$`` with a duration) and sliding-window
HLS media playlists describe the window, and segments ahead of the live edge answer 404.
When the content runs out the event ends: the MPD turns static and HLS gets ENDLIST.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from player.lab._content import (
    ContentInfo,
    TrackFiles,
    _hls_key_line,
    _protection_xml,
)
from transport.lab import DirectoryContent, Resource

__all__ = ["LiveContent"]

_MPD = "/live/manifest.mpd"
_MASTER = "/live/master.m3u8"


def _iso(epoch_s: float) -> str:
    return datetime.fromtimestamp(epoch_s, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _resource(body: bytes, media_type: str) -> Resource:
    return Resource(
        size=len(body),
        etag=f'"{hashlib.sha1(body, usedforsecurity=False).hexdigest()}"',
        media_type=media_type,
        read=lambda offset, length: body[offset : offset + length],
    )


class LiveContent:
    """Serve ``content`` as a live event that started at ``start_s`` (UTC epoch seconds).

    Args:
        content: Generated content (segments of equal duration, ``segment_s``).
        window_s: Time-shift window: how far behind the live edge segments stay listed.
        start_s: When the event started; now by default.
        clock: Wall clock (UTC epoch seconds).

    Paths: ``/live/manifest.mpd``, ``/live/master.m3u8``, ``/live/<folder>/index.m3u8``;
    media under the content's own paths (e.g. ``/video/v1/seg-3.m4s``).
    """

    def __init__(
        self,
        content: ContentInfo,
        *,
        window_s: float = 30.0,
        start_s: float | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.content = content
        self.window_s = window_s
        self.clock = clock
        self.start_s = clock() if start_s is None else start_s
        self._files = DirectoryContent(Path(content.root))
        self._segments = min(len(t.segments) for t in content.tracks)

    @property
    def segment_s(self) -> float:
        """Segment duration, seconds."""
        return float(self.content.spec.segment_s)

    def available(self, now: float | None = None) -> int:
        """Number of segments published so far (segment *n* ends at ``start + n * d``)."""
        elapsed = (self.clock() if now is None else now) - self.start_s
        return max(0, min(self._segments, math.floor(elapsed / self.segment_s + 1e-9)))

    def has_ended(self, now: float | None = None) -> bool:
        """Whether every segment has been published."""
        return self.available(now) >= self._segments

    def lookup(self, path: str) -> Resource | None:
        """Resolve a path at the current time (manifests are generated per request)."""
        now = self.clock()
        if path == _MPD:
            return _resource(self.mpd(now).encode(), "application/dash+xml")
        if path == _MASTER:
            return _resource(self.master_playlist().encode(), "application/vnd.apple.mpegurl")
        if path.startswith("/live/") and path.endswith("/index.m3u8"):
            folder = path[len("/live/") : -len("/index.m3u8")]
            track = next((t for t in self.content.tracks if t.folder == folder), None)
            if track is None:
                return None
            body = self.media_playlist(track, now)
            return _resource(body.encode(), "application/vnd.apple.mpegurl")
        name = path.rsplit("/", 1)[-1]
        if name.startswith("seg-") and name.endswith(".m4s"):
            number = name[4:-4]
            if not number.isdigit() or int(number) > self.available(now):
                return None
        return self._files.lookup(path)

    def _first_listed(self, now: float) -> int:
        listed = max(1, math.floor(self.window_s / self.segment_s))
        return max(1, self.available(now) - listed + 1)

    def mpd(self, now: float) -> str:
        """The MPD at ``now``: dynamic while publishing, static once the event ended."""
        spec = self.content.spec
        ended = self.has_ended(now)
        head = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            '<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" xmlns:cenc="urn:mpeg:cenc:2013" '
            'xmlns:dashif="https://dashif.org/CPS" '
            'profiles="urn:mpeg:dash:profile:isoff-live:2011" '
            f'minBufferTime="PT{spec.segment_s}S" '
        )
        if ended:
            head += (
                f'type="static" mediaPresentationDuration="PT{self._segments * self.segment_s}S">'
            )
        else:
            head += (
                f'type="dynamic" availabilityStartTime="{_iso(self.start_s)}" '
                f'publishTime="{_iso(now)}" minimumUpdatePeriod="PT{spec.segment_s}S" '
                f'timeShiftBufferDepth="PT{self.window_s}S" '
                f'suggestedPresentationDelay="PT{3 * spec.segment_s}S">'
            )
        sets = []
        protection = _protection_xml(spec)
        for index, kind in enumerate(("video", "audio"), start=1):
            tracks = [t for t in self.content.tracks if t.kind == kind]
            if kind == "audio":
                tracks = tracks[:1]
            reps = "".join(self._representation(t) for t in tracks)
            lang = f' lang="{tracks[0].language}"' if kind == "audio" and tracks else ""
            sets.append(
                f'<AdaptationSet id="{index}" contentType="{kind}" mimeType="{kind}/mp4"'
                f"{lang}>{protection}{reps}</AdaptationSet>"
            )
        return head + f'<Period id="p0" start="PT0S">{"".join(sets)}</Period></MPD>\n'

    def _representation(self, track: TrackFiles) -> str:
        duration = round(self.segment_s * track.timescale)
        template = (
            f'<SegmentTemplate timescale="{track.timescale}" duration="{duration}" '
            f'startNumber="1" initialization="../{track.folder}/init.mp4" '
            f'media="../{track.folder}/seg-$Number$.m4s"/>'
        )
        size = (
            f'width="{track.spec.width}" height="{track.spec.height}"'
            if track.spec is not None
            else 'audioSamplingRate="48000"'
        )
        return (
            f'<Representation id="{track.id}" bandwidth="{track.bandwidth_bps}" '
            f'codecs="{track.codecs}" {size}>{template}</Representation>'
        )

    def master_playlist(self) -> str:
        """The multivariant playlist of the live event."""
        audio = next(t for t in self.content.tracks if t.kind == "audio")
        lines = [
            "#EXTM3U\n#EXT-X-VERSION:7\n",
            f'#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="aud",LANGUAGE="{audio.language}",'
            f'NAME="{audio.language}",DEFAULT=YES,AUTOSELECT=YES,URI="{audio.folder}/index.m3u8"\n',
        ]
        for track in (t for t in self.content.tracks if t.kind == "video"):
            assert track.spec is not None
            lines.append(
                f"#EXT-X-STREAM-INF:BANDWIDTH={track.bandwidth_bps + audio.bandwidth_bps},"
                f"RESOLUTION={track.spec.width}x{track.spec.height},"
                f'CODECS="{track.codecs},mp4a.40.2",AUDIO="aud"\n{track.folder}/index.m3u8\n'
            )
        return "".join(lines)

    def media_playlist(self, track: TrackFiles, now: float) -> str:
        """A sliding-window media playlist at ``now``."""
        first, last = self._first_listed(now), self.available(now)
        duration = self.segment_s
        lines = [
            "#EXTM3U\n#EXT-X-VERSION:7\n",
            f"#EXT-X-TARGETDURATION:{max(1, round(duration))}\n",
            f"#EXT-X-MEDIA-SEQUENCE:{first}\n",
            f'#EXT-X-MAP:URI="../../../{track.folder}/init.mp4"\n',
            _hls_key_line(self.content.spec),
        ]
        for number in range(first, last + 1):
            if number == first:
                start = self.start_s + (number - 1) * duration
                lines.append(f"#EXT-X-PROGRAM-DATE-TIME:{_iso(start)}\n")
            lines.append(f"#EXTINF:{duration:.6f},\n../../../{track.folder}/seg-{number}.m4s\n")
        if self.has_ended(now):
            lines.append("#EXT-X-ENDLIST\n")
        return "".join(lines)
