"""Text tracks added to the lab's generated content, for the text tests.

The lab packages video and audio only; ``add_text_tracks`` writes subtitles beside them:
for HLS one segmented WebVTT rendition per language (a ``SUBTITLES`` group named by every
variant, each segment carrying ``X-TIMESTAMP-MAP`` and repeating a cue that crosses its
boundary, as packagers do), for DASH a sidecar WebVTT file per language (a text
AdaptationSet whose Representation is one ``BaseURL``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from player.lab import ContentInfo

LOCAL_OFFSET_S = 10.0
"""The WebVTT segments map LOCAL 10 s to MPEGTS 0: cue times are written 10 s late and the
map brings them back to the media's timestamps (the lab's start at 0)."""


@dataclass(frozen=True)
class TextCue:
    """A cue written into the test content (presentation seconds)."""

    start_s: float
    end_s: float
    text: str


def cues_for(language: str, duration_s: float, *, every_s: float = 1.5) -> list[TextCue]:
    """One cue every ``every_s`` seconds, 1 s long, named by language and number."""
    cues = []
    start, number = 0.25, 1
    while start + 1.0 <= duration_s:
        cues.append(TextCue(start, start + 1.0, f"{language} cue {number}"))
        start += every_s
        number += 1
    return cues


def _stamp(seconds: float) -> str:
    millis = round(seconds * 1000)
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    return f"{hours:02d}:{minutes:02d}:{rest // 1000:02d}.{rest % 1000:03d}"


def webvtt(cues: list[TextCue], *, shift_s: float = 0.0, timestamp_map: str | None = None) -> str:
    """A WebVTT file holding ``cues`` (times moved by ``shift_s``), ids from their text."""
    lines = ["WEBVTT"]
    if timestamp_map:
        lines.append(timestamp_map)
    lines.append("")
    for cue in cues:
        lines += [
            cue.text.replace(" ", "-"),
            f"{_stamp(cue.start_s + shift_s)} --> {_stamp(cue.end_s + shift_s)} align:center",
            cue.text,
            "",
        ]
    return "\n".join(lines)


def add_text_tracks(
    info: ContentInfo, languages: dict[str, list[TextCue]], *, broken: dict[str, int] | None = None
) -> None:
    """Add one text track per language to the content's HLS and DASH manifests.

    Args:
        info: Generated lab content.
        languages: Language -> its cues.
        broken: Language -> HLS segment number (1-based) replaced by bytes that are not
            WebVTT (a malformed cue file).
    """
    spec = info.spec
    segment_s = float(spec.segment_s)
    count = int(spec.duration_s // spec.segment_s)
    master = (info.root / info.hls_path).read_text()
    media_lines = []
    for index, (language, cues) in enumerate(languages.items()):
        folder = info.root / f"text-{language}"
        folder.mkdir(exist_ok=True)
        playlist = [
            "#EXTM3U",
            "#EXT-X-VERSION:6",
            f"#EXT-X-TARGETDURATION:{spec.segment_s}",
            "#EXT-X-MEDIA-SEQUENCE:1",
            "#EXT-X-PLAYLIST-TYPE:VOD",
        ]
        for number in range(1, count + 1):
            start, end = (number - 1) * segment_s, number * segment_s
            inside = [c for c in cues if c.start_s < end and c.end_s > start]
            body = webvtt(
                inside,
                shift_s=LOCAL_OFFSET_S,
                timestamp_map=f"X-TIMESTAMP-MAP=MPEGTS:0,LOCAL:{_stamp(LOCAL_OFFSET_S)}",
            )
            if broken and broken.get(language) == number:
                body = "<html>this is not a cue file</html>"
            (folder / f"{number}.vtt").write_text(body, encoding="utf-8")
            playlist += [f"#EXTINF:{segment_s:.3f},", f"{number}.vtt"]
        playlist.append("#EXT-X-ENDLIST")
        (folder / "index.m3u8").write_text("\n".join(playlist) + "\n", encoding="utf-8")
        (info.root / f"text-{language}.vtt").write_text(webvtt(cues), encoding="utf-8")
        default = "YES" if index == 0 else "NO"
        media_lines.append(
            f'#EXT-X-MEDIA:TYPE=SUBTITLES,GROUP-ID="subs",LANGUAGE="{language}",'
            f'NAME="{language}",DEFAULT={default},AUTOSELECT=YES,URI="text-{language}/index.m3u8"'
        )
    master = re.sub(r"(#EXT-X-STREAM-INF:[^\n]*)", r'\1,SUBTITLES="subs"', master)
    head = "#EXT-X-INDEPENDENT-SEGMENTS\n"
    master = master.replace(head, head + "\n".join(media_lines) + "\n", 1)
    (info.root / info.hls_path).write_text(master, encoding="utf-8")
    _add_dash_sidecars(info.root / info.dash_path, list(languages))


def _add_dash_sidecars(mpd_path: Path, languages: list[str]) -> None:
    mpd = mpd_path.read_text()
    sets = "".join(
        f'<AdaptationSet id="{100 + i}" contentType="text" mimeType="text/vtt" lang="{lang}">'
        f'<Role schemeIdUri="urn:mpeg:dash:role:2011" value="subtitle"/>'
        f'<Representation id="text-{lang}" bandwidth="256">'
        f"<BaseURL>text-{lang}.vtt</BaseURL></Representation></AdaptationSet>"
        for i, lang in enumerate(languages)
    )
    mpd_path.write_text(mpd.replace("</Period>", sets + "</Period>"), encoding="utf-8")


def two_period_mpd_with_text(
    info: ContentInfo, split_segment: int, cues: tuple[list[TextCue], list[TextCue]]
) -> str:
    """The content (lowest rendition and first audio) as two periods cut after
    ``split_segment`` segments, each with an English WebVTT sidecar whose cue times count
    from its period's start (``cues`` are given in those period times)."""
    periods = []
    split = split_segment * info.spec.segment_s
    for index, (first, last) in enumerate(((1, split_segment), (split_segment + 1, None))):
        sets = []
        for kind in ("video", "audio"):
            track = next(t for t in info.tracks if t.kind == kind)
            segments = track.segments[first - 1 : last]
            offset = track.segments[first - 1][0]
            timeline = "".join(f'<S t="{t}" d="{d}"/>' for t, d, _ in segments)
            size = (
                f'width="{track.spec.width}" height="{track.spec.height}"'
                if track.spec
                else 'audioSamplingRate="48000"'
            )
            sets.append(
                f'<AdaptationSet contentType="{kind}" mimeType="{kind}/mp4">'
                f'<Representation id="{track.id}" bandwidth="{track.bandwidth_bps}" '
                f'codecs="{track.codecs}" {size}><SegmentTemplate timescale="{track.timescale}" '
                f'presentationTimeOffset="{offset}" startNumber="{first}" '
                f'initialization="{track.folder}/init.mp4" media="{track.folder}/seg-$Number$.m4s">'
                f"<SegmentTimeline>{timeline}</SegmentTimeline></SegmentTemplate>"
                "</Representation></AdaptationSet>"
            )
        name = f"period-{index}.vtt"
        (info.root / name).write_text(webvtt(cues[index]), encoding="utf-8")
        sets.append(
            '<AdaptationSet contentType="text" mimeType="text/vtt" lang="en">'
            f'<Representation id="text-p{index}" bandwidth="256"><BaseURL>{name}</BaseURL>'
            "</Representation></AdaptationSet>"
        )
        start = 0 if index == 0 else split
        periods.append(f'<Period id="p{index}" start="PT{start}S">{"".join(sets)}</Period>')
    return (
        '<?xml version="1.0"?><MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="static" '
        f'mediaPresentationDuration="PT{info.spec.duration_s}S" minBufferTime="PT2S">'
        + "".join(periods)
        + "</MPD>"
    )
