"""The local DASH manifest of a download: a static MPD over the files in the folder.

Sans-I/O. Every downloaded rendition becomes a ``Representation`` with a ``SegmentList``
(``Initialization@sourceURL``, a ``SegmentTimeline`` and one ``SegmentURL`` per file), in an
``AdaptationSet`` per source track and a ``Period`` per source period. Segment times are the
source's presentation times (``PERIOD_TIMESCALE`` ticks, well under the player's 1 ms
boundary tolerance), so the download plays on the same timeline as the source. Content
protection is kept as declared (scheme, default KID, ``pssh``, license URL): the keys come
from the stored license.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from fractions import Fraction
from xml.sax.saxutils import quoteattr

from player.manifest import ContentProtection, Presentation, Track, TrackType
from player.offline._plan import LocalRendition

__all__: list[str] = []

TIMESCALE = 90_000
"""Ticks per second of the local timelines: whole numbers for 25, 30, 50 and 60 fps frames
and for 1024-sample AAC frames at 48 kHz."""

_MP4_PROTECTION = "urn:mpeg:dash:mp4protection:2011"
_ROLE = "urn:mpeg:dash:role:2011"
_CONTENT_TYPES = {
    TrackType.VIDEO: "video",
    TrackType.MUXED: "video",
    TrackType.AUDIO: "audio",
    TrackType.TEXT: "text",
}


def build_mpd(presentation: Presentation, renditions: Sequence[LocalRendition]) -> str:
    """Return the local MPD for the downloaded renditions (paths relative to the folder).

    Args:
        presentation: The source presentation (periods, duration).
        renditions: The downloaded renditions with their files.

    Returns:
        The MPD, UTF-8 text.
    """
    periods: list[str] = []
    set_id = 0
    for index, period in enumerate(presentation.periods):
        own = [r for r in renditions if r.chosen.period_index == index]
        if not own:
            continue
        by_track: dict[str, list[LocalRendition]] = {}
        for rendition in own:
            by_track.setdefault(rendition.chosen.track.id, []).append(rendition)
        sets = []
        for group in by_track.values():
            set_id += 1
            sets.append(_adaptation_set(set_id, group, period_start_s=period.start_s))
        duration = (
            f" duration={quoteattr(_duration(period.duration_s))}"
            if period.duration_s is not None
            else ""
        )
        periods.append(
            f"  <Period id={quoteattr(period.id)} start={quoteattr(_duration(period.start_s))}"
            f"{duration}>\n" + "".join(sets) + "  </Period>\n"
        )
    total = (
        f' mediaPresentationDuration="{_duration(presentation.duration_s)}"'
        if presentation.duration_s is not None
        else ""
    )
    min_buffer = _duration(presentation.min_buffer_s or 2.0)
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" xmlns:cenc="urn:mpeg:cenc:2013" '
        'xmlns:dashif="https://dashif.org/CPS" type="static" '
        f'profiles="urn:mpeg:dash:profile:full:2011"{total} minBufferTime="{min_buffer}">\n'
        "  <!-- written by streamsdk's downloader (python -m player download) -->\n"
        + "".join(periods)
        + "</MPD>\n"
    )


def _duration(seconds: float) -> str:
    """An ``xs:duration`` in seconds, e.g. ``PT12.5S``.

    >>> _duration(12.5), _duration(60)
    ('PT12.5S', 'PT60S')
    """
    return f"PT{round(seconds, 6):g}S"


def _adaptation_set(set_id: int, group: list[LocalRendition], *, period_start_s: float) -> str:
    track: Track = group[0].chosen.track
    attrs = [f'id="{set_id}"', f'contentType="{_CONTENT_TYPES.get(track.type, "video")}"']
    if track.language:
        attrs.append(f"lang={quoteattr(track.language)}")
    inner = ""
    if track.label:
        inner += f"      <Label>{_text(track.label)}</Label>\n"
    for role in track.roles:
        if role.replace("-", "").isalnum():
            inner += f"      <Role schemeIdUri={quoteattr(_ROLE)} value={quoteattr(role)}/>\n"
    reps = "".join(_representation(r, period_start_s=period_start_s) for r in group)
    return f"    <AdaptationSet {' '.join(attrs)}>\n{inner}{reps}    </AdaptationSet>\n"


def _representation(rendition: LocalRendition, *, period_start_s: float) -> str:
    rep = rendition.chosen.representation
    attrs = [f"id={quoteattr(rep.id)}", f'bandwidth="{max(rep.bandwidth_bps, 1)}"']
    attrs.append(f"mimeType={quoteattr(_mime_type(rendition))}")
    if rep.codecs:
        attrs.append(f"codecs={quoteattr(rep.codecs)}")
    if rep.width and rep.height:
        attrs.append(f'width="{rep.width}" height="{rep.height}"')
    if rep.frame_rate:
        rate = Fraction(rep.frame_rate).limit_denominator(1001)
        attrs.append(f'frameRate="{rate.numerator}/{rate.denominator}"')
    if rep.audio_sampling_rate:
        attrs.append(f'audioSamplingRate="{rep.audio_sampling_rate}"')
    inner = ""
    if rep.audio_channels:
        inner += (
            "        <AudioChannelConfiguration schemeIdUri="
            '"urn:mpeg:dash:23003:3:audio_channel_configuration:2011" '
            f'value="{rep.audio_channels}"/>\n'
        )
    inner += "".join(_protection(p) for p in rep.protections)
    inner += _segment_list(rendition, period_start_s=period_start_s)
    return f"      <Representation {' '.join(attrs)}>\n{inner}      </Representation>\n"


def _mime_type(rendition: LocalRendition) -> str:
    rep = rendition.chosen.representation
    if rep.mime_type:
        return rep.mime_type
    kind = rendition.chosen.kind
    if kind == "text":
        return "application/mp4"
    return f"{kind}/mp4"


def _protection(protection: ContentProtection) -> str:
    kid = ""
    if protection.default_kids:
        kid = f' cenc:default_KID="{_uuid(protection.default_kids[0])}"'
    if protection.system_id is None:
        value = f" value={quoteattr(protection.scheme)}" if protection.scheme else ""
        return f'        <ContentProtection schemeIdUri="{_MP4_PROTECTION}"{value}{kid}/>\n'
    inner = ""
    if protection.pssh:
        inner += f"<cenc:pssh>{base64.b64encode(protection.pssh).decode()}</cenc:pssh>"
    if protection.license_url:
        inner += f"<dashif:Laurl>{_text(protection.license_url)}</dashif:Laurl>"
    scheme = f"urn:uuid:{protection.system_id}"
    return f'        <ContentProtection schemeIdUri="{scheme}"{kid}>{inner}</ContentProtection>\n'


def _segment_list(rendition: LocalRendition, *, period_start_s: float) -> str:
    lines = [f'        <SegmentList timescale="{TIMESCALE}" startNumber="1">\n']
    first = rendition.segments[0]
    if first.init_path is not None:
        lines.append(f"          <Initialization sourceURL={quoteattr(first.init_path)}/>\n")
    lines.append("          <SegmentTimeline>")
    for local in rendition.segments:
        start = round((local.segment.start_s - period_start_s) * TIMESCALE)
        end = round((local.segment.end_s - period_start_s) * TIMESCALE)
        lines.append(f'<S t="{start}" d="{max(end - start, 1)}"/>')
    lines.append("</SegmentTimeline>\n")
    lines.extend(
        f"          <SegmentURL media={quoteattr(local.path)}/>\n" for local in rendition.segments
    )
    lines.append("        </SegmentList>\n")
    return "".join(lines)


def _uuid(kid_hex: str) -> str:
    h = kid_hex.lower()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _text(value: str) -> str:
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
