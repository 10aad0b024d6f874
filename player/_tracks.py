"""Track choice and the next-segment rule of the scheduler (pure: no I/O, no clock)."""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass

from abr import Rung
from player.config import PlaybackConfig
from player.manifest import Period, Representation, Segment, Track, TrackType

__all__: list[str] = []

_EPSILON_S = 1e-3  # segment-boundary tolerance: timelines round to the timescale (not tunable)


@dataclass(frozen=True, slots=True)
class TrackChoice:
    """The tracks a session plays from one period.

    Attributes:
        video: Video (or muxed) track, if any.
        audio: Separate audio track, if any.
        text: Text track, if one was asked for and exists.
    """

    video: Track | None
    audio: Track | None
    text: Track | None


def _language_matches(track: Track, language: str) -> bool:
    own = (track.language or "").lower()
    want = language.lower()
    return own == want or own.split("-")[0] == want.split("-")[0]


def _pick(tracks: Sequence[Track], language: str | None) -> Track | None:
    playable = [t for t in tracks if any(_is_playable(r) for r in t.representations)]
    if not playable:
        return None
    if language:
        for track in playable:
            if _language_matches(track, language):
                return track
    for track in playable:
        if track.is_default or "main" in track.roles:
            return track
    return playable[0]


def _is_playable(rep: Representation) -> bool:
    return not rep.is_iframe_only and (
        rep.segments is not None or bool(rep.playlist_urls) or rep.index is not None
    )


def choose_tracks(
    period: Period,
    config: PlaybackConfig,
    *,
    audio_language: str | None = None,
    text_language: str | None = None,
) -> TrackChoice:
    """Choose the video, audio and text tracks to play.

    Args:
        period: The period to play.
        config: Playback settings (default languages).
        audio_language: Overrides ``config.audio_language``.
        text_language: Overrides ``config.text_language``.

    Returns:
        The tracks; ``video`` falls back to a muxed track when there is no video track.
    """
    video = _pick(period.tracks_of(TrackType.VIDEO), None) or _pick(
        period.tracks_of(TrackType.MUXED), None
    )
    wanted_language = audio_language or config.audio_language
    audio_tracks = period.tracks_of(TrackType.AUDIO)
    groups = {r.audio_group for r in video.representations if r.audio_group} if video else set()
    if groups:
        # HLS: only renditions of the groups the variants name can play with them.
        audio_tracks = tuple(t for t in audio_tracks if t.group_id in groups) or audio_tracks
    if video is not None and video.type == TrackType.MUXED and not wanted_language:
        audio_tracks = ()  # the variants carry their own audio
    audio = _pick(audio_tracks, wanted_language)
    want_text = text_language or config.text_language
    text = _pick(period.tracks_of(TrackType.TEXT), want_text) if want_text else None
    return TrackChoice(video=video, audio=audio, text=text)


def video_ladder(
    track: Track, config: PlaybackConfig, *, audio_group: str | None = None
) -> tuple[Representation, ...]:
    """The renditions the ABR controller may choose from, ascending by bandwidth.

    Applies the height and bitrate caps (always keeping the lowest rung), drops I-frame
    only renditions, keeps one rendition per bandwidth (the larger picture), and, when
    ``audio_group`` is given (HLS), only the variants that play with that audio group.
    """
    playable = [r for r in track.representations if _is_playable(r)]
    if audio_group is not None:
        playable = [r for r in playable if r.audio_group == audio_group] or playable
    reps = sorted(playable, key=lambda r: (r.bandwidth_bps, r.height or 0))
    unique: dict[int, Representation] = {}
    for rep in reps:
        unique[rep.bandwidth_bps] = rep
    ladder = list(unique.values())
    capped = [
        r
        for r in ladder
        if (config.max_video_height is None or (r.height or 0) <= config.max_video_height)
        and (
            config.max_video_bitrate_bps is None or r.bandwidth_bps <= config.max_video_bitrate_bps
        )
    ]
    return tuple(capped or ladder[:1])


def rungs_of(ladder: Sequence[Representation]) -> tuple[Rung, ...]:
    """Map representations to the ABR controller's rungs (abr never sees the model)."""
    rungs = []
    previous = 0.0
    for rep in ladder:
        # A lone HLS media playlist declares no bandwidth: keep the ladder strictly ascending.
        bitrate = max(float(rep.bandwidth_bps), previous + 1.0)
        rungs.append(Rung(bitrate_bps=bitrate, width=rep.width or 0, height=rep.height or 0))
        previous = bitrate
    return tuple(rungs)


def _start_of(segment: Segment) -> float:
    return segment.start_s


def segment_at(segments: Sequence[Segment], position_s: float) -> Segment | None:
    """Return the first segment that ends after ``position_s`` (the next one to fetch).

    >>> from player.manifest import Segment
    >>> segs = [Segment(urls=("https://a/1",), number=1, start_s=0.0, duration_s=2.0),
    ...         Segment(urls=("https://a/2",), number=2, start_s=2.0, duration_s=2.0)]
    >>> segment_at(segs, 1.0).number, segment_at(segs, 2.0).number, segment_at(segs, 4.0)
    (1, 2, None)
    """
    i = bisect.bisect_right(segments, position_s + _EPSILON_S, key=_start_of) - 1
    i = max(i, 0)
    while i < len(segments) and segments[i].end_s <= position_s + _EPSILON_S:
        i += 1
    return segments[i] if i < len(segments) else None


@dataclass(frozen=True, slots=True)
class TrackNeed:
    """One track's buffer as the scheduler sees it.

    Attributes:
        kind: ``video``, ``audio`` or ``text``.
        buffered_end_s: End of the contiguous buffer from the playhead.
        is_exhausted: No further segment exists (end of stream, or live edge reached).
    """

    kind: str
    buffered_end_s: float
    is_exhausted: bool


def select_next_track(
    needs: Sequence[TrackNeed], *, position_s: float, goal_s: float
) -> int | None:
    """Return the index of the track to fetch for next, or ``None`` when all are full.

    The track whose buffer ends earliest goes first, so audio and video fill together.

    >>> needs = [TrackNeed("video", 10.0, False), TrackNeed("audio", 6.0, False)]
    >>> select_next_track(needs, position_s=0.0, goal_s=30.0)
    1
    >>> select_next_track(needs, position_s=0.0, goal_s=5.0) is None
    True
    """
    best: int | None = None
    for i, need in enumerate(needs):
        if need.is_exhausted or need.buffered_end_s - position_s >= goal_s:
            continue
        if best is None or need.buffered_end_s < needs[best].buffered_end_s - _EPSILON_S:
            best = i
    return best


def wake_after_s(needs: Sequence[TrackNeed], *, position_s: float, goal_s: float) -> float | None:
    """Seconds of playback until some track's buffer drops below the goal.

    Returns ``None`` when every track is exhausted (nothing more to fetch).
    """
    waits = [need.buffered_end_s - goal_s - position_s for need in needs if not need.is_exhausted]
    return max(0.0, min(waits)) if waits else None
