"""Writing a download's local manifests, and clearing what it no longer uses."""

from __future__ import annotations

from pathlib import Path

from player.manifest import StreamFormat
from player.offline._journal import write_atomically
from player.offline._m3u8 import build_playlists
from player.offline._mpd import build_mpd
from player.offline._plan import DownloadPlan

__all__: list[str] = []

MANIFEST_NAMES = {StreamFormat.DASH: "manifest.mpd", StreamFormat.HLS: "manifest.m3u8"}
"""The local manifest's name in the download folder, per format."""


def write_local_manifests(folder: Path, plan: DownloadPlan) -> tuple[Path, set[str]]:
    """Write the local manifest (and HLS media playlists), each atomically.

    Returns:
        The manifest's path, and every file written (relative to ``folder``).
    """
    fmt = plan.presentation.format
    manifest = folder / MANIFEST_NAMES[fmt]
    written = {manifest.name}
    if fmt is StreamFormat.DASH:
        text = build_mpd(plan.presentation, plan.renditions)
    else:
        playlists = build_playlists(plan.renditions)
        for path, body in playlists.media.items():
            write_atomically(folder / path, body.encode())
            written.add(path)
        text = playlists.multivariant
    write_atomically(manifest, text.encode())
    return manifest, written


def remove_others(folder: Path, keep: set[str]) -> None:
    """Remove the files under ``media/`` the download no longer uses.

    They are a previous run's renditions (a re-run with other options) or partial files of an
    interrupted run; folders left empty go too.

    Args:
        folder: The download folder.
        keep: Paths relative to it that stay.
    """
    media = folder / "media"
    if not media.is_dir():
        return
    for path in sorted(media.rglob("*"), reverse=True):
        if path.is_dir():
            if not any(path.iterdir()):
                path.rmdir()
        elif path.relative_to(folder).as_posix() not in keep:
            path.unlink()
