"""Test content for the lab: a ladder made with PyAV, packaged as HLS and DASH.

The content is fragmented MP4 (H.264 video ladder, AAC audio in one or more languages),
one fragment per segment, with a DASH MPD (``SegmentTimeline`` with ``$Number$``) and HLS
multivariant and media playlists over the same files. Optionally each rendition is
encrypted with drm's packager (``cenc`` or ``cbcs``) under a given ClearKey key.
"""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av

from player.errors import PlayerConfigError
from player.lab._mp4 import Fragment, split_fragments, track_timescale

__all__ = ["ContentInfo", "ContentSpec", "RenditionSpec", "generate_content"]

CLEARKEY_SYSTEM_ID = "e2719d58-a985-b3c9-781a-b030af78d30e"
"""W3C ClearKey DRM system id (W3C EME ClearKey, as registered at dashif.org)."""

Encryptor = Callable[[bytes], bytes]
"""Turns a clear fragmented MP4 file into an encrypted one (drm's packager)."""

Progress = Callable[[str], object]
"""Told what ``generate_content`` is doing, one short line per step."""


@dataclass(frozen=True, kw_only=True, slots=True)
class RenditionSpec:
    """One video rung.

    Attributes:
        id: Representation id and folder name.
        width: Pixels.
        height: Pixels.
        bitrate_bps: Target encoder bitrate.
    """

    id: str
    width: int
    height: int
    bitrate_bps: int


DEFAULT_LADDER = (
    RenditionSpec(id="v180", width=320, height=180, bitrate_bps=300_000),
    RenditionSpec(id="v270", width=480, height=270, bitrate_bps=700_000),
    RenditionSpec(id="v360", width=640, height=360, bitrate_bps=1_400_000),
    RenditionSpec(id="v540", width=960, height=540, bitrate_bps=3_000_000),
)
"""Four rungs, roughly doubling, small enough to encode 60 s in a few seconds."""


@dataclass(frozen=True, kw_only=True, slots=True)
class ContentSpec:
    """What to generate.

    Attributes:
        duration_s: Clip length in seconds.
        segment_s: Segment length in seconds (a GOP per segment).
        fps: Video frame rate.
        ladder: Video rungs, ascending bitrate.
        audio_languages: One AAC track per language (tones of different pitch).
        audio_bitrate_bps: AAC bitrate.
        scheme: ``None`` (clear), ``cenc`` or ``cbcs``.
        kid_hex: KID for encrypted content, 32 hex digits.
        license_url: ClearKey license URL written into the MPD (``dashif:Laurl``).
    """

    duration_s: int = 60
    segment_s: int = 2
    fps: int = 25
    ladder: tuple[RenditionSpec, ...] = DEFAULT_LADDER
    audio_languages: tuple[str, ...] = ("en",)
    audio_bitrate_bps: int = 64_000
    scheme: str | None = None
    kid_hex: str | None = None
    license_url: str | None = None

    def __post_init__(self) -> None:
        """Validate.

        Raises:
            PlayerConfigError: Inconsistent values.
        """
        if self.duration_s <= 0 or self.segment_s <= 0 or self.fps <= 0 or not self.ladder:
            raise PlayerConfigError("ContentSpec needs a positive duration, segment, fps, ladder")
        if self.scheme not in (None, "cenc", "cbcs"):
            raise PlayerConfigError(f"unknown scheme {self.scheme!r}")
        if self.scheme is not None and (self.kid_hex is None or len(self.kid_hex) != 32):
            raise PlayerConfigError("encrypted content needs kid_hex (32 hex digits)")


@dataclass(frozen=True, slots=True)
class TrackFiles:
    """Where one rendition's files went and how they are timed.

    Attributes:
        kind: ``video`` or ``audio``.
        id: Representation id.
        folder: Path relative to the content root.
        timescale: Track timescale.
        segments: ``(decode_time, duration, nbytes)`` per segment, in timescale units.
        codecs: RFC 6381 codecs string.
        bandwidth_bps: Peak segment bitrate.
        average_bandwidth_bps: Mean bitrate.
        spec: The video rung, or ``None`` for audio.
        language: Audio language, or ``None``.
    """

    kind: str
    id: str
    folder: str
    timescale: int
    segments: tuple[tuple[int, int, int], ...]
    codecs: str
    bandwidth_bps: int
    average_bandwidth_bps: int
    spec: RenditionSpec | None = None
    language: str | None = None


@dataclass(frozen=True, slots=True)
class ContentInfo:
    """What ``generate_content`` wrote.

    Attributes:
        root: Content root directory.
        dash_path: MPD path relative to root (empty when DASH was not asked for).
        hls_path: Multivariant playlist path relative to root (empty when HLS was not
            asked for).
        tracks: Every rendition's files.
        spec: The spec used.
    """

    root: Path
    dash_path: str
    hls_path: str
    tracks: tuple[TrackFiles, ...]
    spec: ContentSpec = field(repr=False)

    @property
    def total_frames(self) -> int:
        """Video frames in the clip (every rendition has them all)."""
        return self.spec.duration_s * self.spec.fps


def _encode_video(spec: ContentSpec, rung: RenditionSpec) -> bytes:
    import io

    source = f"testsrc2=size={rung.width}x{rung.height}:rate={spec.fps}:duration={spec.duration_s}"
    gop = str(spec.fps * spec.segment_s)
    buf = io.BytesIO()
    options = {"movflags": "frag_keyframe+empty_moov+default_base_moof"}
    with (
        av.open(source, format="lavfi") as src,
        av.open(buf, "w", format="mp4", options=options) as out,
    ):
        stream = out.add_stream("libx264", rate=spec.fps)
        stream.width, stream.height, stream.pix_fmt = rung.width, rung.height, "yuv420p"
        stream.bit_rate = rung.bitrate_bps
        stream.options = {"preset": "ultrafast", "g": gop, "keyint_min": gop, "sc_threshold": "0"}
        for frame in src.decode(video=0):
            frame = frame.reformat(format="yuv420p")
            frame.pict_type = av.video.frame.PictureType.NONE
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return buf.getvalue()


def _encode_audio(spec: ContentSpec, index: int) -> bytes:
    import io

    frequency = 440 * (1 + index)
    source = f"sine=frequency={frequency}:sample_rate=48000:duration={spec.duration_s}"
    buf = io.BytesIO()
    options = {
        "movflags": "empty_moov+default_base_moof",
        "frag_duration": str(spec.segment_s * 1_000_000),
    }
    with (
        av.open(source, format="lavfi") as src,
        av.open(buf, "w", format="mp4", options=options) as out,
    ):
        stream = out.add_stream("aac", rate=48000)
        stream.bit_rate = spec.audio_bitrate_bps
        for frame in src.decode(audio=0):
            frame.pts = None
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return buf.getvalue()


def _avc_codecs(init: bytes) -> str:
    at = init.find(b"avcC")
    if at < 0:
        return "avc1.42c01e"
    profile, compat, level = init[at + 5], init[at + 6], init[at + 7]
    return f"avc1.{profile:02x}{compat:02x}{level:02x}"


def _write_track(
    root: Path,
    folder: str,
    data: bytes,
    *,
    encrypt: Encryptor | None,
) -> tuple[bytes, list[Fragment]]:
    if encrypt is not None:
        data = encrypt(data)
    init, fragments = split_fragments(data)
    target = root / folder
    target.mkdir(parents=True, exist_ok=True)
    (target / "init.mp4").write_bytes(init)
    for number, fragment in enumerate(fragments, start=1):
        (target / f"seg-{number}.m4s").write_bytes(fragment.data)
    return init, fragments


def _track_files(
    kind: str, rep_id: str, folder: str, init: bytes, frags: list[Fragment], **kw: object
) -> TrackFiles:
    timescale = track_timescale(init)
    segments = tuple((f.decode_time, f.duration, len(f.data)) for f in frags)
    rates = [n * 8 * timescale / d for _, d, n in segments if d > 0]
    total_s = sum(d for _, d, _ in segments) / timescale
    average = sum(n for _, _, n in segments) * 8 / total_s if total_s > 0 else 0
    codecs = _avc_codecs(init) if kind == "video" else "mp4a.40.2"
    return TrackFiles(
        kind,
        rep_id,
        folder,
        timescale,
        segments,
        codecs,
        int(math.ceil(max(rates, default=0))),
        int(average),
        **kw,  # type: ignore[arg-type]
    )


def generate_content(
    root: Path,
    spec: ContentSpec = ContentSpec(),
    *,
    encrypt: Encryptor | None = None,
    progress: Progress | None = None,
    formats: tuple[str, ...] = ("dash", "hls"),
) -> ContentInfo:
    """Encode the ladder and audio with PyAV, package them, write manifests.

    Args:
        root: Output directory (created).
        spec: What to make.
        encrypt: drm's packager bound to a scheme and key, applied to every rendition;
            required when ``spec.scheme`` is set.
        progress: Called with one line before each step (encoding a rendition, writing
            the manifests), for command lines that show what they are doing.
        formats: Manifests to write: ``dash`` (``manifest.mpd``), ``hls`` (``master.m3u8``
            and a media playlist per rendition), or both; the media files serve both.

    Returns:
        Where everything went.

    Raises:
        PlayerConfigError: ``spec.scheme`` is set but no ``encrypt`` is given.
    """
    if spec.scheme is not None and encrypt is None:
        raise PlayerConfigError("encrypted content needs an encrypt callable (drm packager)")
    if not formats or not set(formats) <= {"dash", "hls"}:
        raise PlayerConfigError(f"formats must be 'dash' and/or 'hls', got {formats!r}")
    root.mkdir(parents=True, exist_ok=True)
    tell = progress or (lambda _line: None)
    packaging = f", encrypting ({spec.scheme})" if spec.scheme else ""
    steps = len(spec.ladder) + len(spec.audio_languages)
    tracks: list[TrackFiles] = []
    for step, rung in enumerate(spec.ladder, start=1):
        tell(
            f"[{step}/{steps}] encoding video {rung.id}: {rung.width}x{rung.height} at "
            f"{rung.bitrate_bps / 1e6:.2f} Mbit/s, {spec.duration_s} s (H.264){packaging}"
        )
        folder = f"video/{rung.id}"
        init, frags = _write_track(root, folder, _encode_video(spec, rung), encrypt=encrypt)
        tracks.append(_track_files("video", rung.id, folder, init, frags, spec=rung))
    for index, language in enumerate(spec.audio_languages):
        tell(
            f"[{len(spec.ladder) + index + 1}/{steps}] encoding audio {language}: "
            f"AAC {spec.audio_bitrate_bps // 1000} kbit/s{packaging}"
        )
        folder = f"audio/{language}"
        init, frags = _write_track(root, folder, _encode_audio(spec, index), encrypt=encrypt)
        tracks.append(
            _track_files("audio", f"a-{language}", folder, init, frags, language=language)
        )
    info = ContentInfo(
        root,
        "manifest.mpd" if "dash" in formats else "",
        "master.m3u8" if "hls" in formats else "",
        tuple(tracks),
        spec,
    )
    tell("writing " + " and ".join(p for p in (info.dash_path, info.hls_path) if p))
    if info.dash_path:
        (root / info.dash_path).write_text(build_mpd(info), encoding="utf-8")
    if info.hls_path:
        write_hls(info)
    (root / "content.json").write_text(json.dumps(describe(info), indent=2), encoding="utf-8")
    return info


def describe(info: ContentInfo) -> dict[str, object]:
    """Return a JSON summary of generated content (no key material)."""
    return {
        "dash": info.dash_path or None,
        "hls": info.hls_path or None,
        "duration_s": info.spec.duration_s,
        "segment_s": info.spec.segment_s,
        "scheme": info.spec.scheme,
        "kid": info.spec.kid_hex,
        "tracks": [
            {
                "kind": t.kind,
                "id": t.id,
                "segments": len(t.segments),
                "bandwidth_bps": t.bandwidth_bps,
                "codecs": t.codecs,
                "language": t.language,
            }
            for t in info.tracks
        ],
    }


def _kid_uuid(kid_hex: str) -> str:
    h = kid_hex.lower()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _timeline(track: TrackFiles) -> str:
    entries: list[str] = []
    run_start, run_duration, repeats = track.segments[0][0], track.segments[0][1], 0
    for decode_time, duration, _ in track.segments[1:]:
        if duration == run_duration:
            repeats += 1
            continue
        r = f' r="{repeats}"' if repeats else ""
        entries.append(f'<S t="{run_start}" d="{run_duration}"{r}/>')
        run_start, run_duration, repeats = decode_time, duration, 0
    r = f' r="{repeats}"' if repeats else ""
    entries.append(f'<S t="{run_start}" d="{run_duration}"{r}/>')
    return "".join(entries)


def _protection_xml(spec: ContentSpec) -> str:
    if spec.scheme is None or spec.kid_hex is None:
        return ""
    laurl = f"<dashif:Laurl>{spec.license_url}</dashif:Laurl>" if spec.license_url else ""
    return (
        f'<ContentProtection schemeIdUri="urn:mpeg:dash:mp4protection:2011" value="{spec.scheme}" '
        f'cenc:default_KID="{_kid_uuid(spec.kid_hex)}"/>'
        f'<ContentProtection schemeIdUri="urn:uuid:{CLEARKEY_SYSTEM_ID}" value="ClearKey1.0">'
        f"{laurl}</ContentProtection>"
    )


def _representation_xml(track: TrackFiles) -> str:
    template = (
        f'<SegmentTemplate timescale="{track.timescale}" startNumber="1" '
        f'initialization="{track.folder}/init.mp4" media="{track.folder}/seg-$Number$.m4s">'
        f"<SegmentTimeline>{_timeline(track)}</SegmentTimeline></SegmentTemplate>"
    )
    if track.spec is not None:
        attrs = f'width="{track.spec.width}" height="{track.spec.height}"'
    else:
        attrs = 'audioSamplingRate="48000"'
    return (
        f'<Representation id="{track.id}" bandwidth="{track.bandwidth_bps}" '
        f'codecs="{track.codecs}" {attrs}>{template}</Representation>'
    )


def build_mpd(info: ContentInfo) -> str:
    """Return a static MPD for the content."""
    spec = info.spec
    protection = _protection_xml(spec)
    videos = [t for t in info.tracks if t.kind == "video"]
    audios = [t for t in info.tracks if t.kind == "audio"]
    sets = [
        f'<AdaptationSet id="1" contentType="video" mimeType="video/mp4" segmentAlignment="true" '
        f'frameRate="{spec.fps}">{protection}'
        + "".join(_representation_xml(t) for t in videos)
        + "</AdaptationSet>"
    ]
    for index, track in enumerate(audios, start=2):
        role = '<Role schemeIdUri="urn:mpeg:dash:role:2011" value="main"/>' if index == 2 else ""
        sets.append(
            f'<AdaptationSet id="{index}" contentType="audio" mimeType="audio/mp4" '
            f'lang="{track.language}">{role}{protection}{_representation_xml(track)}</AdaptationSet>'
        )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" xmlns:cenc="urn:mpeg:cenc:2013" '
        'xmlns:dashif="https://dashif.org/CPS" type="static" '
        'profiles="urn:mpeg:dash:profile:isoff-live:2011" '
        f'mediaPresentationDuration="PT{spec.duration_s}S" minBufferTime="PT{spec.segment_s}S">'
        f'<Period id="p0" start="PT0S">{"".join(sets)}</Period></MPD>\n'
    )


def _hls_key_line(spec: ContentSpec) -> str:
    if spec.scheme is None or spec.kid_hex is None:
        return ""
    method = "SAMPLE-AES-CTR" if spec.scheme == "cenc" else "SAMPLE-AES"
    kid = bytes.fromhex(spec.kid_hex)
    system = bytes.fromhex(CLEARKEY_SYSTEM_ID.replace("-", ""))
    body = b"\x01\x00\x00\x00" + system + (1).to_bytes(4, "big") + kid + b"\x00\x00\x00\x00"
    pssh = (8 + len(body)).to_bytes(4, "big") + b"pssh" + body
    uri = "data:text/plain;base64," + base64.b64encode(pssh).decode()
    return (
        f'#EXT-X-KEY:METHOD={method},URI="{uri}",'
        f'KEYFORMAT="urn:uuid:{CLEARKEY_SYSTEM_ID}",KEYFORMATVERSIONS="1"\n'
    )


def _media_playlist(track: TrackFiles, spec: ContentSpec) -> str:
    durations = [d / track.timescale for _, d, _ in track.segments]
    target = max(1, round(max(durations)))
    lines = [
        "#EXTM3U\n#EXT-X-VERSION:7\n",
        f"#EXT-X-TARGETDURATION:{target}\n#EXT-X-MEDIA-SEQUENCE:1\n",
        "#EXT-X-PLAYLIST-TYPE:VOD\n#EXT-X-INDEPENDENT-SEGMENTS\n",
        '#EXT-X-MAP:URI="init.mp4"\n',
        _hls_key_line(spec),
    ]
    for number, duration in enumerate(durations, start=1):
        lines.append(f"#EXTINF:{duration:.6f},\nseg-{number}.m4s\n")
    lines.append("#EXT-X-ENDLIST\n")
    return "".join(lines)


def write_hls(info: ContentInfo) -> None:
    """Write the multivariant playlist and one media playlist per rendition."""
    spec = info.spec
    audio = [t for t in info.tracks if t.kind == "audio"]
    lines = ["#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-INDEPENDENT-SEGMENTS\n"]
    for index, track in enumerate(audio):
        default = "YES" if index == 0 else "NO"
        lines.append(
            f'#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="aud",LANGUAGE="{track.language}",'
            f'NAME="{track.language}",DEFAULT={default},AUTOSELECT=YES,CHANNELS="2",'
            f'URI="{track.folder}/index.m3u8"\n'
        )
    audio_peak = max((t.bandwidth_bps for t in audio), default=0)
    audio_avg = max((t.average_bandwidth_bps for t in audio), default=0)
    rate = Fraction(spec.fps)
    for track in (t for t in info.tracks if t.kind == "video"):
        assert track.spec is not None
        codecs = track.codecs + (",mp4a.40.2" if audio else "")
        group = ',AUDIO="aud"' if audio else ""
        lines.append(
            f"#EXT-X-STREAM-INF:BANDWIDTH={track.bandwidth_bps + audio_peak},"
            f"AVERAGE-BANDWIDTH={track.average_bandwidth_bps + audio_avg},"
            f"RESOLUTION={track.spec.width}x{track.spec.height},FRAME-RATE={float(rate):.3f},"
            f'CODECS="{codecs}"{group}\n{track.folder}/index.m3u8\n'
        )
    (info.root / info.hls_path).write_text("".join(lines), encoding="utf-8")
    for track in info.tracks:
        playlist = _media_playlist(track, spec)
        (info.root / track.folder / "index.m3u8").write_text(playlist, encoding="utf-8")
