"""How each foreign tool packages the clear source: one function per layout.

A recipe is ``recipe(folder, clip) -> manifest file name``; ``Workshop.build`` runs it once
per session. Every recipe copies the coded pictures (``-c copy``, Shaka Packager's
remultiplexing): nothing is re-encoded, so decoded pictures must match the source exactly.
"""

from __future__ import annotations

from pathlib import Path

from foreign import SEGMENT_S, Clip, ffmpeg, packager, run

KID = "00112233445566778899aabbccddeeff"
KEY = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"
AES_KEY = bytes.fromhex("8f1ad3b0c9e2f7465a3b2c1d0e9f8a7b")
AES_IV = "0x000102030405060708090a0b0c0d0e0f"


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
