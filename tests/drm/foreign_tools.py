"""Foreign tools the drm tests run at test time: FFmpeg (Debian) and Shaka Packager (npm).

A missing tool fails the test that needs it (scripts/setup-dev.sh installs both, for CI
too): a skip would let an interoperability regression pass unnoticed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
_PACKAGER_PLACES = (
    ROOT / ".tools" / "bin" / "packager",  # scripts/setup-dev.sh puts it there
    ROOT / "node_modules" / "shaka-packager" / "bin" / "packager-linux-x64",
    Path("/tmp/shk/node_modules/shaka-packager/bin/packager-linux-x64"),
)
TOOL_TIMEOUT_S = 120.0


def packager() -> str:
    """Path of the Shaka Packager binary (``SHAKA_PACKAGER`` overrides the search)."""
    named = os.environ.get("SHAKA_PACKAGER")
    candidates = [Path(named)] if named else list(_PACKAGER_PLACES)
    found = shutil.which("packager")
    if found and not named:
        candidates.append(Path(found))
    for path in candidates:
        if path.is_file() and os.access(path, os.X_OK):
            return str(path)
    pytest.fail("Shaka Packager not found: run scripts/setup-dev.sh")


def ffmpeg() -> str:
    """Path of the ``ffmpeg`` binary."""
    found = shutil.which("ffmpeg")
    if found is None:
        pytest.fail("ffmpeg not found: run scripts/setup-dev.sh")
    return found


def run(args: list[str], cwd: Path) -> None:
    """Run a tool; fail the test with its stderr when it fails."""
    done = subprocess.run(
        args, cwd=cwd, capture_output=True, text=True, timeout=TOOL_TIMEOUT_S, check=False
    )
    if done.returncode != 0:
        pytest.fail(f"{Path(args[0]).name} failed ({done.returncode}): {done.stderr[-2000:]}")


def make_source(folder: Path, name: str, *, video: str | None, audio: str, seconds: int) -> Path:
    """Encode a short clip with FFmpeg from lavfi sources (``video``: extra x264 options)."""
    out = folder / f"{name}.mp4"
    args = [ffmpeg(), "-hide_banner", "-loglevel", "error", "-y"]
    if video is not None:
        args += ["-f", "lavfi", "-i", "testsrc2=size=160x90:rate=25,noise=alls=60:allf=t"]
    args += ["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000", "-t", str(seconds)]
    if video is not None:
        args += ["-c:v", "libx264", "-g", "25", "-threads", "1", *video.split()]
        args += ["-pix_fmt", "yuv420p"]
    codec = {"aac": ["-c:a", "aac", "-b:a", "128k"]}.get(audio, ["-c:a", audio, "-b:a", "192k"])
    run([*args, *codec, str(out)], folder)
    return out
