"""How each foreign tool packages the clear source: one function per layout.

A recipe is ``recipe(folder, clip) -> manifest file name``; ``Workshop.build`` runs it once
per session. Every recipe copies the coded pictures (``-c copy``, Shaka Packager's
remultiplexing): nothing is re-encoded, so decoded pictures must match the source exactly.
"""

from __future__ import annotations

import re
import struct
from pathlib import Path
from typing import Any

from foreign import FPS, SEGMENT_S, Clip, ffmpeg, packager, run

KID = "00112233445566778899aabbccddeeff"
KEY = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"
AES_KEY = bytes.fromhex("8f1ad3b0c9e2f7465a3b2c1d0e9f8a7b")
AES_IV = "0x000102030405060708090a0b0c0d0e0f"
SHORT_IV = "3334353637383930"
"""An 8-byte IV as Shaka Packager writes it (16 hex digits), meaning zeros on the right."""
RFC_IV = "00000000000000000000000000001e72"
"""A 16-byte IV whose first 8 bytes are zero: RFC 8216's IV for media sequence 7794 (its
example playlist's), written out in full."""


def _ffmpeg(folder: Path, clip: Clip, *args: str) -> None:
    base = [ffmpeg(), "-hide_banner", "-loglevel", "error", "-y", "-i", str(clip.path)]
    run([*base, *args], folder)


# -- FFmpeg DASH ---------------------------------------------------------------------------


def _ffmpeg_dash(folder: Path, clip: Clip, *options: str) -> str:
    # fmt: off
    _ffmpeg(
        folder, clip,
        "-map", "0", "-c", "copy", "-f", "dash", "-seg_duration", str(SEGMENT_S),
        "-adaptation_sets", "id=0,streams=v id=1,streams=a", *options, "manifest.mpd",
    )
    # fmt: on
    return "manifest.mpd"


def ffmpeg_dash_timeline(folder: Path, clip: Clip) -> str:
    """DASH, ``SegmentTemplate`` with ``SegmentTimeline`` (``$Time$``-free, ``$Number$``)."""
    return _ffmpeg_dash(folder, clip, "-use_template", "1", "-use_timeline", "1")


def ffmpeg_dash_number(folder: Path, clip: Clip) -> str:
    """DASH, ``SegmentTemplate@duration`` with ``$Number$`` (no timeline)."""
    return _ffmpeg_dash(folder, clip, "-use_template", "1", "-use_timeline", "0")


def ffmpeg_dash_single_file(folder: Path, clip: Clip) -> str:
    """DASH ``-single_file``: FFmpeg 5.1 writes ``SegmentList`` with ``mediaRange``."""
    return _ffmpeg_dash(folder, clip, "-single_file", "1")


def ffmpeg_dash_cenc(folder: Path, clip: Clip) -> str:
    """DASH with FFmpeg's own CENC (the mp4 muxer's ``encryption_*``): broken content.

    FFmpeg 5.1's DASH muxer writes ``encv``/``tenc`` and encrypts the samples, but puts no
    ``senc``/``saiz``/``saio`` in the fragments, so no player can find the per-sample IVs.
    """
    options = f"encryption_scheme=cenc-aes-ctr:encryption_key={KEY}:encryption_kid={KID}"
    return _ffmpeg_dash(folder, clip, "-format_options", options)


# -- FFmpeg HLS ----------------------------------------------------------------------------

_VARIANTS_WITH_AUDIO_GROUP = "v:0,agroup:aud v:1,agroup:aud a:0,agroup:aud,default:yes"


def ffmpeg_hls_fmp4(folder: Path, clip: Clip) -> str:
    """HLS fMP4 via ``-var_stream_map``: two video variants and an audio rendition group.

    The init segments carry FFmpeg's two-entry edit list (an empty edit, then
    ``media_time`` = the B-frame delay).
    """
    # fmt: off
    _ffmpeg(
        folder, clip,
        "-map", "0:v:0", "-map", "0:v:1", "-map", "0:a", "-c", "copy",
        "-f", "hls", "-hls_time", str(SEGMENT_S), "-hls_playlist_type", "vod",
        "-hls_segment_type", "fmp4", "-hls_fmp4_init_filename", "init_%v.mp4",
        "-hls_segment_filename", "s%v_%03d.m4s",
        "-master_pl_name", "master.m3u8", "-var_stream_map", _VARIANTS_WITH_AUDIO_GROUP,
        "v%v.m3u8",
    )
    # fmt: on
    return "master.m3u8"


def _ffmpeg_hls_ts(folder: Path, clip: Clip, *options: str) -> str:
    # fmt: off
    _ffmpeg(
        folder, clip,
        "-map", "0:v:0", "-map", "0:a", "-map", "0:v:1", "-map", "0:a", "-c", "copy",
        "-f", "hls", "-hls_time", str(SEGMENT_S), "-hls_playlist_type", "vod",
        "-hls_segment_type", "mpegts", "-hls_segment_filename", "s%v_%03d.ts",
        *options,
        "-master_pl_name", "master.m3u8", "-var_stream_map", "v:0,a:0 v:1,a:1",
        "v%v.m3u8",
    )
    # fmt: on
    return "master.m3u8"


def ffmpeg_hls_ts(folder: Path, clip: Clip) -> str:
    """HLS MPEG-TS, two variants each with muxed audio."""
    return _ffmpeg_hls_ts(folder, clip)


def ffmpeg_hls_aes128(folder: Path, clip: Clip) -> str:
    """HLS MPEG-TS encrypted whole-segment with AES-128 (``-hls_key_info_file``).

    The key is served beside the playlists as ``enc.key`` (a relative key URI).
    """
    (folder / "enc.key").write_bytes(AES_KEY)
    info = folder / "key-info.txt"
    info.write_text(f"enc.key\n{folder / 'enc.key'}\n{AES_IV[2:]}\n")
    return _ffmpeg_hls_ts(folder, clip, "-hls_key_info_file", str(info))


def ffmpeg_hls_aes128_short_iv(folder: Path, clip: Clip) -> str:
    """FFmpeg's AES-128 HLS TS with its IV written in the 8-byte form (16 hex digits).

    FFmpeg encrypts only with a 16-byte IV, so it encrypts with ``SHORT_IV`` and 8 zero
    bytes, and the playlists then say ``IV=0x<SHORT_IV>``: how FFmpeg's own HLS reader (and
    hls.js) reads that attribute, and how Shaka Packager means it.
    """
    (folder / "enc.key").write_bytes(AES_KEY)
    info = folder / "key-info.txt"
    info.write_text(f"enc.key\n{folder / 'enc.key'}\n{SHORT_IV}{'0' * 16}\n")
    manifest = _ffmpeg_hls_ts(folder, clip, "-hls_key_info_file", str(info))
    for playlist in folder.glob("v*.m3u8"):
        text = playlist.read_text()
        short = text.replace(f"IV=0x{SHORT_IV}{'0' * 16}", f"IV=0x{SHORT_IV}")
        assert short != text, "FFmpeg wrote no IV attribute"
        playlist.write_text(short)
    return manifest


# -- Shaka Packager ------------------------------------------------------------------------


def shaka_streams(clip: Clip, *, suffix: str = "") -> list[str]:
    """Stream descriptors for the source's two video streams and its audio (live profile)."""
    source = str(clip.path)
    out = []
    for index, name in ((0, "v360"), (1, "v180")):
        out.append(
            f"in={source},stream={index},init_segment={name}/init.mp4,"
            f"segment_template={name}/$Number$.m4s,playlist_name={name}.m3u8{suffix}"
        )
    out.append(
        f"in={source},stream=audio,init_segment=audio/init.mp4,"
        f"segment_template=audio/$Number$.m4s,playlist_name=audio.m3u8,hls_group_id=audio,"
        f"hls_name=audio{suffix}"
    )
    return out


def _shaka(folder: Path, clip: Clip, *options: str) -> str:
    # fmt: off
    run(
        [
            packager(), *shaka_streams(clip),
            "--segment_duration", str(SEGMENT_S), "--fragment_duration", str(SEGMENT_S),
            "--generate_static_live_mpd", "--mpd_output", "manifest.mpd",
            "--hls_master_playlist_output", "master.m3u8", *options,
        ],
        folder,
    )
    # fmt: on
    return "manifest.mpd"


def _raw_key(*options: str) -> tuple[str, ...]:
    return (
        "--enable_raw_key_encryption",
        "--keys",
        f"label=:key_id={KID}:key={KEY}",
        "--protection_systems",
        "CommonSystem",
        *options,
    )


def shaka_clear(folder: Path, clip: Clip) -> str:
    """Shaka Packager, clear, DASH live profile (``SegmentTemplate``) plus HLS fMP4."""
    return _shaka(folder, clip)


def shaka_cenc(folder: Path, clip: Clip) -> str:
    """Shaka Packager, ``cenc`` with a raw ClearKey key, every segment encrypted."""
    return _shaka(folder, clip, *_raw_key("--protection_scheme", "cenc", "--clear_lead", "0"))


def shaka_cenc_clear_lead(folder: Path, clip: Clip) -> str:
    """Shaka Packager, ``cenc`` with ``--clear_lead 1``: the first second is clear."""
    return _shaka(folder, clip, *_raw_key("--protection_scheme", "cenc", "--clear_lead", "1"))


# -- Shaka Packager on-demand (SegmentBase + sidx; HLS EXT-X-BYTERANGE) --------------------

ON_DEMAND_FILES = {"v360": "v360.mp4", "v180": "v180.mp4", "audio": "audio.mp4"}
"""Representation name -> the single file Shaka Packager writes for it (on-demand)."""
MULTI_KEYS = {
    "SD": ("11111111111111111111111111111111", "a0a1a2a3a4a5a6a7a8a9aaabacadaeaf"),
    "HD": ("22222222222222222222222222222222", "b0b1b2b3b4b5b6b7b8b9babbbcbdbebf"),
    "AUDIO": ("33333333333333333333333333333333", "c0c1c2c3c4c5c6c7c8c9cacbcccdcecf"),
}
"""DRM label -> (KID, key): one key per rendition (Shaka Packager ``drm_label``)."""


def _shaka_on_demand(folder: Path, clip: Clip, *options: str, labels: bool = False) -> str:
    source = str(clip.path)
    streams = []
    for selector, name, extra, label in (
        ("0", "v360", "", "HD"),
        ("1", "v180", "", "SD"),
        ("audio", "audio", ",hls_group_id=audio,hls_name=audio", "AUDIO"),
    ):
        drm = f",drm_label={label}" if labels else ""
        streams.append(
            f"in={source},stream={selector},output={ON_DEMAND_FILES[name]},"
            f"playlist_name={name}.m3u8{extra}{drm}"
        )
    # fmt: off
    run(
        [
            packager(), *streams, "--segment_duration", str(SEGMENT_S),
            "--mpd_output", "manifest.mpd", "--hls_master_playlist_output", "master.m3u8",
            *options,
        ],
        folder,
    )
    # fmt: on
    return "manifest.mpd"


def shaka_on_demand(folder: Path, clip: Clip) -> str:
    """Shaka Packager on-demand: one file per rendition, DASH ``SegmentBase`` with
    ``indexRange`` (init and ``sidx`` adjacent) and HLS ``EXT-X-BYTERANGE`` playlists."""
    return _shaka_on_demand(folder, clip)


def shaka_on_demand_cenc(folder: Path, clip: Clip) -> str:
    """The on-demand layout with ``cenc`` and a raw ClearKey key (every segment encrypted)."""
    return _shaka_on_demand(
        folder, clip, *_raw_key("--protection_scheme", "cenc", "--clear_lead", "0")
    )


def shaka_multi_key_cbcs(folder: Path, clip: Clip) -> str:
    """On-demand ``cbcs`` with one key per rendition: Shaka Packager puts each video rendition
    in its own AdaptationSet and links them with ``adaptation-set-switching``."""
    keys = ",".join(
        f"label={label}:key_id={kid}:key={key}" for label, (kid, key) in MULTI_KEYS.items()
    )
    # fmt: off
    return _shaka_on_demand(
        folder, clip, "--enable_raw_key_encryption", "--keys", keys,
        "--protection_systems", "CommonSystem", "--protection_scheme", "cbcs",
        "--clear_lead", "0", labels=True,
    )
    # fmt: on


def shaka_on_demand_hierarchical(folder: Path, clip: Clip) -> str:
    """The on-demand layout rewritten with a hierarchical ``sidx`` (no tool writes one here).

    Shaka Packager writes one flat ``sidx`` per file. ``hierarchical_sidx`` moves its
    references into sub-``sidx`` boxes placed before their media (two subsegments each; the
    360p file gets three levels), and the MPD's ``indexRange`` is pointed at the new top box.
    """
    manifest = _shaka_on_demand(folder, clip)
    mpd = (folder / manifest).read_text()
    for name, file in ON_DEMAND_FILES.items():
        first, last = hierarchical_sidx(folder / file, per_box=2, levels=3 if name == "v360" else 2)
        mpd = re.sub(
            rf'(<BaseURL>{re.escape(file)}</BaseURL>\s*<SegmentBase indexRange=")\d+-\d+"',
            rf'\g<1>{first}-{last}"',
            mpd,
        )
    (folder / manifest).write_text(mpd)
    return manifest


_BOX = struct.Struct(">I4s")


def _top_boxes(data: bytes) -> list[tuple[bytes, int, int]]:
    """``(type, start, size)`` of each top-level box (32-bit sizes: Shaka's output)."""
    boxes, pos = [], 0
    while pos < len(data):
        size, kind = _BOX.unpack_from(data, pos)
        boxes.append((kind, pos, size))
        pos += size
    return boxes


def _sidx_box(
    refs: list[tuple[bool, int, int, int]], *, timescale: int, ept: int, version: int
) -> bytes:
    """A ``sidx`` box; ``refs``: ``(is_index, referenced_size, duration, sap_word)``."""
    if version == 0:
        body = struct.pack(">B3xIIIIHH", 0, 1, timescale, ept, 0, 0, len(refs))
    else:
        body = struct.pack(">B3xIIQQHH", 1, 1, timescale, ept, 0, 0, len(refs))
    for is_index, size, duration, sap in refs:
        body += struct.pack(">III", (int(is_index) << 31) | size, duration, sap)
    return _BOX.pack(8 + len(body), b"sidx") + body


def hierarchical_sidx(path: Path, *, per_box: int, levels: int) -> tuple[int, int]:
    """Rewrite a file's flat ``sidx`` as a hierarchy; return the top box's byte range.

    The leaves (subsegments) keep their bytes and order; each sub-``sidx`` sits right before
    the media (or the lower ``sidx``) it references, and every ``referenced_size`` of a
    type-1 reference spans that box and what follows it, as ISO/IEC 14496-12 8.16.3 asks.
    """
    data = path.read_bytes()
    _, start, size = next(b for b in _top_boxes(data) if b[0] == b"sidx")
    version = data[start + 8]
    fixed = ">B3xIIIIHH" if version == 0 else ">B3xIIQQHH"
    _, _, timescale, ept, first_offset, _, count = struct.unpack_from(fixed, data, start + 8)
    assert first_offset == 0, "media must follow the sidx"
    pos = start + 8 + struct.calcsize(fixed)
    leaves: list[Any] = []
    media = start + size
    for i in range(count):
        word, duration, sap = struct.unpack_from(">III", data, pos + 12 * i)
        assert word >> 31 == 0
        leaves.append((word, duration, sap, data[media : media + word]))
        media += word
    tree: list[Any] = leaves
    for _ in range(levels - 1):
        tree = [tree[i : i + per_box] for i in range(0, len(tree), per_box)]

    def duration_of(node: Any) -> int:
        return node[1] if isinstance(node, tuple) else sum(duration_of(c) for c in node)

    def serialise(node: list[Any], t: int, level: int) -> bytes:
        refs, parts = [], []
        for child in node:
            if isinstance(child, tuple):
                refs.append((False, child[0], child[1], child[2]))
                parts.append(child[3])
            else:
                part = serialise(child, t, level + 1)
                refs.append((True, len(part), duration_of(child), child_sap(child)))
                parts.append(part)
            t += duration_of(child)
        # the top box keeps the original version, the others alternate (both get exercised)
        box_version = version if level == 0 else (level % 2)
        return _sidx_box(
            refs, timescale=timescale, ept=t - duration_of(node), version=box_version
        ) + b"".join(parts)

    def child_sap(node: Any) -> int:
        return node[2] if isinstance(node, tuple) else child_sap(node[0])

    rewritten = data[:start] + serialise(tree, ept, 0) + data[media:]
    path.write_bytes(rewritten)
    top_size = _BOX.unpack_from(rewritten, start)[0]
    return start, start + top_size - 1


def _shaka_sample_aes_ts(folder: Path, clip: Clip, iv: str) -> str:
    """Shaka Packager HLS MPEG-TS with SAMPLE-AES (``cbcs``, a raw key and the IV ``iv``; the
    playlists carry the KID as an identity ``data:`` URI), two video variants and audio."""
    source = str(clip.path)
    streams = [
        f"in={source},stream={index},segment_template={name}/$Number$.ts,playlist_name={name}.m3u8"
        for index, name in ((0, "v360"), (1, "v180"))
    ]
    streams.append(
        f"in={source},stream=audio,segment_template=audio/$Number$.ts,"
        "playlist_name=audio.m3u8,hls_group_id=audio,hls_name=audio"
    )
    # fmt: off
    run(
        [
            packager(), *streams, "--segment_duration", str(SEGMENT_S),
            "--hls_master_playlist_output", "master.m3u8",
            *_raw_key("--protection_scheme", "cbcs", "--clear_lead", "0", "--iv", iv),
        ],
        folder,
    )
    # fmt: on
    return "master.m3u8"


def shaka_sample_aes_ts(folder: Path, clip: Clip) -> str:
    """SAMPLE-AES TS with an 8-byte IV: Shaka Packager writes ``IV=0x`` and 16 hex digits."""
    return _shaka_sample_aes_ts(folder, clip, SHORT_IV)


def shaka_sample_aes_ts_rfc_iv(folder: Path, clip: Clip) -> str:
    """SAMPLE-AES TS with a 16-byte IV whose first 8 bytes are zero (32 hex digits)."""
    return _shaka_sample_aes_ts(folder, clip, RFC_IV)


# -- text tracks (issue 15): subtitles written by the test, packaged by the tools -----------

SUBTITLES = (
    (0.2, 0.8, "One"),
    (0.9, 2.3, "Two <i>italic</i> & more"),
    (2.5, 2.9, "Three\nsecond line"),
    (3.1, 3.8, "Four"),
)
"""The cues every text recipe carries: ``(start s, end s, text)``; the second crosses two
1 s segment boundaries, markup and an ampersand test text extraction."""


def _clock(seconds: float, separator: str) -> str:
    millis = round(seconds * 1000)
    return f"00:00:{millis // 1000:02d}{separator}{millis % 1000:03d}"


def write_srt(path: Path) -> Path:
    """``SUBTITLES`` as SubRip (FFmpeg's input)."""
    blocks = [
        f"{n}\n{_clock(a, ',')} --> {_clock(b, ',')}\n{text}\n"
        for n, (a, b, text) in enumerate(SUBTITLES, start=1)
    ]
    path.write_text("\n".join(blocks), encoding="utf-8")
    return path


def write_vtt(path: Path) -> Path:
    """``SUBTITLES`` as WebVTT (Shaka Packager's input)."""
    blocks = [
        f"{_clock(a, '.')} --> {_clock(b, '.')}\n{text.replace('&', '&amp;')}\n"
        for a, b, text in SUBTITLES
    ]
    path.write_text("WEBVTT\n\n" + "\n".join(blocks), encoding="utf-8")
    return path


def _ffmpeg_hls_webvtt(folder: Path, clip: Clip, segment_type: str, extension: str) -> str:
    srt = write_srt(folder / "subs.srt")
    # fmt: off
    _ffmpeg(
        folder, clip,
        "-i", str(srt), "-map", "0:v:0", "-map", "0:a", "-map", "1", "-c:v", "copy",
        "-c:a", "copy", "-c:s", "webvtt",
        "-f", "hls", "-hls_time", str(SEGMENT_S), "-hls_playlist_type", "vod",
        "-hls_segment_type", segment_type, "-hls_segment_filename", f"s%v_%03d.{extension}",
        "-hls_subtitle_path", "subs_%v.m3u8", "-master_pl_name", "master.m3u8",
        "-var_stream_map", "v:0,a:0,s:0,sgroup:subs,language:en", "v%v.m3u8",
    )
    # fmt: on
    return "master.m3u8"


def ffmpeg_hls_ts_webvtt(folder: Path, clip: Clip) -> str:
    """FFmpeg HLS MPEG-TS with a segmented WebVTT rendition (no ``X-TIMESTAMP-MAP``)."""
    return _ffmpeg_hls_webvtt(folder, clip, "mpegts", "ts")


def ffmpeg_hls_fmp4_webvtt(folder: Path, clip: Clip) -> str:
    """FFmpeg HLS fMP4 with a segmented WebVTT rendition (no ``X-TIMESTAMP-MAP``)."""
    return _ffmpeg_hls_webvtt(folder, clip, "fmp4", "m4s")


SIDECAR_LANGUAGES = {"en": "subs.vtt", "fr": "subs.ttml", "de": "subs-stpp.mp4"}
"""``ffmpeg_dash_sidecars``: the language each FFmpeg-written sidecar is declared with."""


def ffmpeg_dash_sidecars(folder: Path, clip: Clip) -> str:
    """FFmpeg DASH plus three sidecar files FFmpeg writes from the SRT: WebVTT (``en``), TTML
    (``fr``) and TTML in a progressive MP4 (``stpp``, ``de``): FFmpeg 5.1 fragments no TTML
    (its DASH muxer refuses it), so the MPD gets one text AdaptationSet per file."""
    manifest = _ffmpeg_dash(folder, clip, "-use_template", "1", "-use_timeline", "1")
    srt = write_srt(folder / "subs.srt")
    base = [ffmpeg(), "-hide_banner", "-loglevel", "error", "-y", "-i", str(srt)]
    run([*base, "subs.vtt"], folder)
    run([*base, "-c:s", "ttml", "-f", "ttml", "subs.ttml"], folder)
    run([*base, "-c:s", "ttml", "subs-stpp.mp4"], folder)
    kinds = {
        "subs.vtt": 'mimeType="text/vtt"',
        "subs.ttml": 'mimeType="application/ttml+xml"',
        "subs-stpp.mp4": 'mimeType="application/mp4" codecs="stpp"',
    }
    sets = "".join(
        f'<AdaptationSet id="{10 + i}" contentType="text" lang="{lang}" {kinds[file]}>'
        f'<Representation id="text-{lang}" bandwidth="1000"><BaseURL>{file}</BaseURL>'
        "</Representation></AdaptationSet>"
        for i, (lang, file) in enumerate(SIDECAR_LANGUAGES.items())
    )
    mpd = (folder / manifest).read_text()
    (folder / manifest).write_text(mpd.replace("</Period>", sets + "</Period>", 1))
    return manifest


def shaka_hls_ts_webvtt(folder: Path, clip: Clip) -> str:
    """Shaka Packager HLS MPEG-TS with segmented WebVTT carrying ``X-TIMESTAMP-MAP``."""
    source, vtt = str(clip.path), write_vtt(folder / "en.vtt")
    # fmt: off
    run(
        [
            packager(),
            f"in={source},stream=video,segment_template=v/$Number$.ts,playlist_name=v.m3u8",
            f"in={source},stream=audio,segment_template=a/$Number$.ts,playlist_name=a.m3u8,"
            "hls_group_id=audio,hls_name=audio",
            f"in={vtt},stream=text,segment_template=t/$Number$.vtt,playlist_name=t.m3u8,"
            "hls_group_id=text,hls_name=English,language=en",
            "--segment_duration", str(SEGMENT_S), "--hls_master_playlist_output", "master.m3u8",
        ],
        folder,
    )
    # fmt: on
    return "master.m3u8"


TEXT_LANGUAGES = {"en": "webvtt segments", "de": "wvtt", "fr": "stpp"}
"""``shaka_text``: what each language's text rendition is, in both manifests."""


def shaka_text(folder: Path, clip: Clip) -> str:
    """Shaka Packager, one run, fMP4 video and audio with three text renditions in both
    ``manifest.mpd`` and ``master.m3u8``: ``en`` segmented WebVTT (``.vtt`` files), ``de``
    WebVTT in fMP4 (``wvtt``), ``fr`` TTML in fMP4 (``stpp``).

    Each text input is its own file: Shaka Packager 3.4.2 gives every stream read from one
    file the language of the first.
    """
    source = str(clip.path)
    streams = [
        f"in={source},stream=video,init_segment=v/init.mp4,segment_template=v/$Number$.m4s,"
        "playlist_name=v.m3u8",
        f"in={source},stream=audio,init_segment=a/init.mp4,segment_template=a/$Number$.m4s,"
        "playlist_name=a.m3u8,hls_group_id=audio,hls_name=audio",
        f"in={write_vtt(folder / 'en.vtt')},stream=text,segment_template=t/$Number$.vtt,"
        "playlist_name=t.m3u8,hls_group_id=text,hls_name=English,language=en",
        f"in={write_vtt(folder / 'de.vtt')},stream=text,init_segment=w/init.mp4,"
        "segment_template=w/$Number$.m4s,playlist_name=w.m3u8,hls_group_id=text,"
        "hls_name=Deutsch,language=de",
        f"in={write_vtt(folder / 'fr.vtt')},stream=text,init_segment=s/init.mp4,"
        "segment_template=s/$Number$.m4s,playlist_name=s.m3u8,hls_group_id=text,"
        "hls_name=Francais,language=fr,format=ttml+mp4",
    ]
    # fmt: off
    run(
        [
            packager(), *streams,
            "--segment_duration", str(SEGMENT_S), "--generate_static_live_mpd",
            "--mpd_output", "manifest.mpd", "--hls_master_playlist_output", "master.m3u8",
        ],
        folder,
    )
    # fmt: on
    return "manifest.mpd"


def shaka_text_sidecar(folder: Path, clip: Clip) -> str:
    """Shaka Packager on-demand DASH with a TTML sidecar (``BaseURL`` to ``subs.ttml``)."""
    source, vtt = str(clip.path), write_vtt(folder / "en.vtt")
    # fmt: off
    run(
        [
            packager(), f"in={source},stream=video,output=v.mp4",
            f"in={source},stream=audio,output=a.mp4",
            f"in={vtt},stream=text,output=subs.ttml,language=en",
            "--mpd_output", "manifest.mpd",
        ],
        folder,
    )
    # fmt: on
    return "manifest.mpd"


# -- the corpus's HLS text-offset case with media made here --------------------------------

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "corpus" / "manifests" / "hls"
TEXT_OFFSET_MEDIA_S = (10.0, 95443.2)
"""Media timestamps (s) where each discontinuity of ``corpus_hls_text_offset`` starts: the
second is 0.5 s before the 33-bit PES timestamps wrap (2^33 / 90 kHz = 95443.7 s)."""
TEXT_OFFSET_CUES = (
    (0.5, 1.5, "before the break"),
    (3.0, 3.8, "still before"),
    (6.0, 6.8, "after the break"),
    (7.4, 8.2, "across the rollover"),
)
"""Presentation times of the cues written into the corpus case's WebVTT segments."""


def corpus_hls_text_offset(folder: Path, clip: Clip) -> str:
    """Shaka Player's ``hls-text-offset`` playlists (the corpus) with media made by FFmpeg.

    The video playlist breaks at 5.583 s, the WebVTT playlist at 4 s (as in the corpus). The
    video's timestamps restart at the break near the 33-bit wrap; each WebVTT segment maps its
    cue times to them with ``X-TIMESTAMP-MAP`` (the last one to a timestamp past the wrap). A
    player that ties a map to the text playlist's own break, or ignores the wrap, puts the
    last two cues 1.583 s or 26.5 hours off.
    """
    del clip
    for name in ("index", "playlist-video", "playlist-vtt"):
        text = (CORPUS / f"shaka__hls-text-offset__{name}.m3u8").read_text(encoding="utf-8")
        (folder / f"{name}.m3u8").write_text(text, encoding="utf-8")
    video = _corpus_segments(folder / "playlist-video.m3u8")
    starts: dict[int, float] = {}
    position = 0.0
    for file, duration, disc in video:
        first = starts.setdefault(disc, position)
        offset = TEXT_OFFSET_MEDIA_S[disc] + position - first
        # fmt: off
        run(
            [
                ffmpeg(), "-hide_banner", "-loglevel", "error", "-y",
                "-f", "lavfi", "-i", f"testsrc2=size=160x90:rate={FPS}", "-t", f"{duration:.3f}",
                "-c:v", "libx264", "-preset", "veryfast", "-bf", "0", "-g", str(FPS),
                "-pix_fmt", "yuv420p", "-f", "mpegts", "-muxdelay", "0", "-muxpreload", "0",
                "-output_ts_offset", f"{offset:.3f}", file,
            ],
            folder,
        )
        # fmt: on
        position += duration
    _corpus_webvtt(folder, starts)
    return "index.m3u8"


def _corpus_segments(playlist: Path) -> list[tuple[str, float, int]]:
    """``(file, EXTINF, discontinuity number)`` of each segment of a corpus playlist."""
    out, duration, disc = [], 0.0, 0
    for line in playlist.read_text(encoding="utf-8").splitlines():
        if line.startswith("#EXTINF:"):
            duration = float(line[8:].split(",")[0])
        elif line.startswith("#EXT-X-DISCONTINUITY") and ":" not in line:
            disc += 1
        elif line and not line.startswith("#"):
            out.append((line, duration, disc))
    return out


def _corpus_webvtt(folder: Path, video_starts: dict[int, float]) -> None:
    """The WebVTT segments: each cue in the segment it starts in; a segment of the text
    playlist's discontinuity ``d`` maps its cue times to the media clock of the video's
    discontinuity ``d`` (cue time 0 = that discontinuity's first picture)."""
    wrap = 1 << 33
    position = 0.0
    for file, duration, disc in _corpus_segments(folder / "playlist-vtt.m3u8"):
        end = position + duration
        inside = [c for c in TEXT_OFFSET_CUES if position <= c[0] < end]
        base, media = video_starts[disc], TEXT_OFFSET_MEDIA_S[disc]
        local = max(0.0, position - base)  # the map names a cue time inside this segment
        mpegts = round((media + local) * 90_000) % wrap
        lines = ["WEBVTT", f"X-TIMESTAMP-MAP=MPEGTS:{mpegts},LOCAL:{_clock_long(local)}", ""]
        for start, stop, text in inside:
            lines += [f"{_clock_long(start - base)} --> {_clock_long(stop - base)}", text, ""]
        (folder / file).write_text("\n".join(lines), encoding="utf-8")
        position = end


def _clock_long(seconds: float) -> str:
    millis = round(seconds * 1000)
    return f"00:{millis // 60_000:02d}:{millis // 1000 % 60:02d}.{millis % 1000:03d}"


# -- A/V sync and muxed audio (docs/qa.md, av_drift_s) --------------------------------------

AUDIO_OFFSET_S = 0.5
"""How late ``ffmpeg_hls_ts_audio_late`` presents the audio (``-itsoffset``)."""


def ffmpeg_hls_ts_audio_late(folder: Path, clip: Clip) -> str:
    """HLS MPEG-TS with muxed audio whose timestamps begin ``AUDIO_OFFSET_S`` late.

    ``-itsoffset`` on the audio input shifts its PTS inside the TS (MPEG-TS has no edit
    list to hide it in): a real A/V offset that every player presents.
    """
    # fmt: off
    run(
        [
            ffmpeg(), "-hide_banner", "-loglevel", "error", "-y", "-i", str(clip.path),
            "-itsoffset", str(AUDIO_OFFSET_S), "-i", str(clip.path),
            "-map", "0:v:0", "-map", "1:a", "-c", "copy",
            "-f", "hls", "-hls_time", str(SEGMENT_S), "-hls_playlist_type", "vod",
            "-hls_segment_type", "mpegts", "-hls_segment_filename", "s%v_%03d.ts",
            "-master_pl_name", "master.m3u8", "-var_stream_map", "v:0,a:0", "v%v.m3u8",
        ],
        folder,
    )
    # fmt: on
    return "master.m3u8"


def ffmpeg_hls_ts_silent(folder: Path, clip: Clip) -> str:
    """HLS MPEG-TS without audio whose multivariant playlist declares AAC (``CODECS``).

    A muxed variant that names an audio codec must deliver audio: the verdict fails it.
    """
    # fmt: off
    _ffmpeg(
        folder, clip,
        "-map", "0:v:0", "-an", "-c", "copy",
        "-f", "hls", "-hls_time", str(SEGMENT_S), "-hls_playlist_type", "vod",
        "-hls_segment_type", "mpegts", "-hls_segment_filename", "s_%03d.ts", "v.m3u8",
    )
    # fmt: on
    (folder / "master.m3u8").write_text(
        "#EXTM3U\n#EXT-X-VERSION:3\n"
        '#EXT-X-STREAM-INF:BANDWIDTH=900000,RESOLUTION=640x360,CODECS="avc1.64001e,mp4a.40.2"\n'
        "v.m3u8\n"
    )
    return "master.m3u8"
