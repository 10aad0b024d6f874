"""HLS ``EXT-X-DEFINE`` (issue 10, defect 7) end to end on FFmpeg's HLS fMP4 output.

The playlists are FFmpeg's, rewritten to reach their media through variables: the
multivariant playlist picks its variant with ``QUERYPARAM`` (from its own URL) and names the
media folder with ``NAME``/``VALUE``; the media playlists ``IMPORT`` it into their
``EXT-X-MAP`` and segment URIs. A variable left unsubstituted would be a 404, so every
picture decoded at the variant's size proves each substitution reached the server.
"""

from __future__ import annotations

from pathlib import Path

import recipes
from foreign import FPS, Clip, Served, Workshop, play

VARIANTS = {"0": 360, "1": 180}
"""FFmpeg's variant number -> picture height (``v0.m3u8`` 640x360, ``v1.m3u8`` 320x180)."""


def _define_playlists(workshop: Workshop, clip: Clip) -> str:
    """Write the rewritten playlists into ``hls-define/``; return the multivariant path."""
    built = Path(workshop.build("ffmpeg-hls-fmp4", recipes.ffmpeg_hls_fmp4))
    source, media = clip.folder / built.parent, built.parent.name
    folder = clip.folder / "hls-define"
    folder.mkdir(exist_ok=True)
    for name in ("v0.m3u8", "v1.m3u8", "v2.m3u8"):
        lines = ['#EXT-X-DEFINE:IMPORT="media"']
        for line in (source / name).read_text().splitlines():
            if line.startswith('#EXT-X-MAP:URI="'):
                line = line.replace('URI="', 'URI="../{$media}/', 1)
            elif line and not line.startswith("#"):
                line = "../{$media}/" + line
            lines.append(line)
        lines.insert(1, lines.pop(0))  # after #EXTM3U
        (folder / name).write_text("\n".join(lines) + "\n")
    (folder / "master.m3u8").write_text(
        "#EXTM3U\n#EXT-X-VERSION:11\n"
        '#EXT-X-DEFINE:QUERYPARAM="v"\n'
        f'#EXT-X-DEFINE:NAME="media",VALUE="{media}"\n'
        '#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="aud",NAME="audio",DEFAULT=YES,URI="v2.m3u8"\n'
        '#EXT-X-STREAM-INF:BANDWIDTH=885892,RESOLUTION=640x360,AUDIO="aud"\n'
        "v{$v}.m3u8\n"
    )
    return "hls-define/master.m3u8"


def test_define_queryparam_and_import_reach_ffmpeg_media(
    workshop: Workshop, clip: Clip, lab_server: Served
) -> None:
    path = _define_playlists(workshop, clip)
    for variant, height in VARIANTS.items():
        playback = play(lab_server, f"{path}?v={variant}")
        assert playback.state == "ended", playback.error
        assert playback.stats["decode_errors"] == 0
        numbers = sorted(round(pts * FPS) for pts, _ in playback.video)
        assert numbers == list(range(clip.frames))
        assert all(clip.reference[height][round(t * FPS)] == h for t, h in playback.video)
        assert len(playback.audio_pts_s) >= 0.98 * clip.audio_frames


def test_a_queryparam_missing_from_the_url_is_a_typed_manifest_error(
    workshop: Workshop, clip: Clip, lab_server: Served
) -> None:
    playback = play(lab_server, _define_playlists(workshop, clip))
    assert playback.state == "error"
    assert playback.error_code == "player.manifest_parse"
    assert "QUERYPARAM 'v': the playlist URL has no such parameter" in str(playback.error)
    assert playback.stats["frames_decoded"] == 0
