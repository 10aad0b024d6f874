"""Track choice and the next-segment rule of the scheduler (pure: no I/O, no clock)."""

from __future__ import annotations

import bisect
import dataclasses
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from abr import Rung
from player.config import PlaybackConfig
from player.errors import RestrictionsNotMet
from player.manifest import Period, Representation, Segment, SegmentRuns, Track, TrackType

__all__: list[str] = []

_EPSILON_S = 1e-3  # segment-boundary tolerance: timelines round to the timescale (not tunable)
_log = logging.getLogger(__name__)
_CODEC_FAMILIES = {
    "avc1": "avc",
    "avc3": "avc",
    "hvc1": "hevc",
    "hev1": "hevc",
    "dvh1": "dovi-hevc",
    "dvhe": "dovi-hevc",
    "dva1": "dovi-avc",
    "dvav": "dovi-avc",
    "vp09": "vp9",
    "vp08": "vp8",
    "av01": "av1",
}


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


def _pick_text(tracks: Sequence[Track], language: str) -> Track | None:
    """The text track in ``language``; ``"*"`` takes the default, else the first.

    Never a track in another language instead: subtitles the viewer cannot read are no help.
    """
    if language == "*":
        return _pick(tracks, None)
    playable = [t for t in tracks if any(_is_playable(r) for r in t.representations)]
    matching = [t for t in playable if _language_matches(t, language)]
    return _pick(matching, language) if matching else None


def _is_playable(rep: Representation) -> bool:
    return not rep.is_iframe_only and (
        rep.segments is not None or bool(rep.playlist_urls) or rep.index is not None
    )


def codec_family(codecs: str | None) -> str:
    """The codec family of an RFC 6381 codecs string's first entry (``avc1.64001f`` -> ``avc``).

    >>> codec_family("avc3.640028"), codec_family("hev1.1.6.L93.90"), codec_family(None)
    ('avc', 'hevc', '')
    """
    head = (codecs or "").split(",")[0].strip().lower().split(".")[0]
    return _CODEC_FAMILIES.get(head, head)


def _compatibility(track: Track) -> tuple[object, ...] | None:
    """What two video sets must share to be merged without a link (``None``: never merged)."""
    reps = [r for r in track.representations if not r.is_iframe_only]
    if not reps or len(reps) < len(track.representations):
        return None
    families = {codec_family(r.codecs or track.codecs) for r in reps}
    rates = {round(r.frame_rate or 0) for r in reps}
    if len(families) != 1 or len(rates) != 1:
        return None
    return (track.type, *families, *rates, tuple(sorted(track.roles)), track.language, track.label)


def switching_groups(tracks: Sequence[Track], *, merge_compatible: bool) -> tuple[Track, ...]:
    """Merge the tracks a player may switch between into one track per group, in manifest order.

    Tracks are merged when one names the other in ``switching_ids`` (DASH
    adaptation-set-switching, either direction: ISO/IEC 23009-1 5.3.3.5, DASH-IF IOP 3.8, as
    dash.js 5 and ExoPlayer honour it); a link to a track of another type is ignored. With
    ``merge_compatible``, video tracks with the same codec family, roles, language, label and
    frame rate are merged too, as Shaka Player does (its ABR chooses among every variant of
    one codec family and frame rate, whatever AdaptationSet it came from).

    Args:
        tracks: The period's tracks.
        merge_compatible: Also merge compatible video tracks without a link.

    Returns:
        The tracks, each group as one track: id ``"a+b"``, representations of every member
        in manifest order, other attributes from the first member.
    """
    parent = list(range(len(tracks)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    by_id = {t.id: i for i, t in enumerate(tracks)}
    for i, track in enumerate(tracks):
        for other in track.switching_ids:
            j = by_id.get(other)
            if j is not None and tracks[j].type == track.type:
                parent[root(j)] = root(i)
    if merge_compatible:
        seen: dict[tuple[object, ...], int] = {}
        for i, track in enumerate(tracks):
            key = _compatibility(track) if track.type == TrackType.VIDEO else None
            if key is not None:
                parent[root(i)] = root(seen.setdefault(key, i))
    groups: dict[int, list[Track]] = {}
    for i, track in enumerate(tracks):
        groups.setdefault(root(i), []).append(track)
    return tuple(_merged(members) for members in groups.values())


def _merged(members: list[Track]) -> Track:
    first = members[0]
    if len(members) == 1:
        return first
    _log.info("one %s ladder from sets %s", first.type.value, [t.id for t in members])
    return dataclasses.replace(
        first,
        id="+".join(t.id for t in members),
        representations=tuple(r for t in members for r in t.representations),
        codecs=first.codecs if all(t.codecs == first.codecs for t in members) else None,
        is_default=any(t.is_default for t in members),
        switching_ids=(),
    )


def choose_tracks(
    period: Period,
    config: PlaybackConfig,
    *,
    audio_language: str | None = None,
    text_language: str | None = None,
    merge_compatible: bool = False,
) -> TrackChoice:
    """Choose the video, audio and text tracks to play.

    Tracks linked for switching (DASH adaptation-set switching) are merged into one first
    (``switching_groups``).

    Args:
        period: The period to play.
        config: Playback settings (default languages).
        audio_language: Overrides ``config.audio_language``.
        text_language: Overrides ``config.text_language``. Text is chosen only in that
            language (``"*"``: the default text track, else the first).
        merge_compatible: Also merge compatible video tracks without a link (DASH, when
            ``config.switch_across_compatible_sets``).

    Returns:
        The tracks; ``video`` falls back to a muxed track when there is no video track.
    """
    grouped = switching_groups(period.tracks, merge_compatible=merge_compatible)

    def of(kind: TrackType) -> tuple[Track, ...]:
        return tuple(t for t in grouped if t.type == kind)

    video = _pick(of(TrackType.VIDEO), None) or _pick(of(TrackType.MUXED), None)
    wanted_language = audio_language or config.audio_language
    audio_tracks = of(TrackType.AUDIO)
    groups = {r.audio_group for r in video.representations if r.audio_group} if video else set()
    if groups:
        # HLS: only renditions of the groups the variants name can play with them.
        audio_tracks = tuple(t for t in audio_tracks if t.group_id in groups) or audio_tracks
    if video is not None and video.type == TrackType.MUXED and not wanted_language:
        audio_tracks = ()  # the variants carry their own audio
    audio = _pick(audio_tracks, wanted_language)
    want_text = text_language or config.text_language
    text = _pick_text(of(TrackType.TEXT), want_text) if want_text else None
    return TrackChoice(video=video, audio=audio, text=text)


def video_ladder(
    track: Track, config: PlaybackConfig, *, audio_group: str | None = None
) -> tuple[Representation, ...]:
    """The renditions the ABR controller may choose from, ascending by bandwidth.

    Applies the height and bitrate caps, drops I-frame only renditions, keeps one rendition
    per bandwidth (the larger picture), and, when ``audio_group`` is given (HLS), only the
    variants that play with that audio group.

    Raises:
        RestrictionsNotMet: The caps leave no rendition (like Shaka Player's
            ``RESTRICTIONS_CANNOT_BE_MET``): a cap is never silently ignored.
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
    if ladder and not capped:
        raise RestrictionsNotMet(
            f"no video rendition within max_video_height={config.max_video_height} and "
            f"max_video_bitrate_bps={config.max_video_bitrate_bps}: the {len(ladder)} "
            f"renditions start at {min(r.height or 0 for r in ladder)} px high and "
            f"{ladder[0].bandwidth_bps} b/s",
            max_height=config.max_video_height,
            max_bitrate_bps=config.max_video_bitrate_bps,
            available=tuple((r.id, r.height, r.bandwidth_bps) for r in ladder),
        )
    return tuple(capped)


def dropped_by_caps(
    track: Track,
    ladder: Sequence[Representation],
    config: PlaybackConfig,
    *,
    audio_group: str | None = None,
) -> tuple[str, ...]:
    """Ids of the renditions ``video_ladder`` left out because of the height/bitrate caps."""
    uncapped = dataclasses.replace(config, max_video_height=None, max_video_bitrate_bps=None)
    kept = {r.id for r in ladder}
    full = video_ladder(track, uncapped, audio_group=audio_group)
    return tuple(r.id for r in full if r.id not in kept)


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


def segment_at(
    segments: Sequence[Segment], position_s: float, *, tolerance_s: float = _EPSILON_S
) -> Segment | None:
    """Return the first segment that ends after ``position_s`` (the next one to fetch).

    A segment ending less than ``tolerance_s`` after ``position_s`` counts as ended (the
    timelines round to their timescale). A DASH ``SegmentRuns`` index answers from its runs
    (``SegmentRuns.segment_at``, building one segment); a list is bisected. Both take
    O(log n) time, n the number of segments, so the cost of a lookup does not grow with the
    length of a presentation or of a live window.

    >>> from player.manifest import Segment
    >>> segs = [Segment(urls=("https://a/1",), number=1, start_s=0.0, duration_s=2.0),
    ...         Segment(urls=("https://a/2",), number=2, start_s=2.0, duration_s=2.0)]
    >>> segment_at(segs, 1.0).number, segment_at(segs, 2.0).number, segment_at(segs, 4.0)
    (1, 2, None)
    """
    if isinstance(segments, SegmentRuns):
        return segments.segment_at(position_s + tolerance_s)
    limit = position_s + tolerance_s
    i = bisect.bisect_right(segments, limit, key=_start_of) - 1
    i = max(i, 0)
    while i < len(segments) and segments[i].end_s <= limit:
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
