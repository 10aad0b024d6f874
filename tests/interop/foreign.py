"""Foreign tools, foreign content and foreign servers for the interoperability suite.

Content the SDK packaged itself proves little (DESIGN.md, invariants): here FFmpeg and
Shaka Packager package a short clear source clip, foreign servers (Caddy over HTTP/3,
``python -m http.server``) or the lab serve it, the SDK plays it with decoding and frame
hashing, and the decoded pictures are compared with a decode of the clear source.

Packaging copies the source's coded pictures (``-c copy``, or Shaka Packager's
remultiplexing), so every picture the SDK decodes must be bit-identical to the source's
picture with the same frame number: ``compare_pictures`` checks exactly that.

Tools (a missing one FAILS the test, naming ``scripts/setup-dev.sh``, never skips):
    ffmpeg: ``PATH``.
    Shaka Packager: env ``SHAKA_PACKAGER``, else ``.tools/bin/packager`` (made by
        ``scripts/setup-dev.sh``), else ``packager`` on ``PATH``.
    caddy: ``PATH``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import av
import pytest

from player import VirtualClock
from player._player import Player
from player.config import PlaybackConfig, PlayerConfig
from transport import TransportConfig

ROOT = Path(__file__).resolve().parents[2]
SETUP = "run scripts/setup-dev.sh (CI does)"
TOOL_TIMEOUT_S = 120.0
"""Bound on one tool run (each takes well under a second on the 4 s clip)."""
PLAY_TIMEOUT_S = 60.0
"""Bound on one playback on the virtual clock (about a second each)."""

FPS = 25
DURATION_S = 4
SEGMENT_S = 1
SIZES = ((640, 360), (320, 180))
"""The source's video streams: v:0 is 640x360, v:1 is 320x180 (one GOP per second)."""
SAMPLE_RATE = 48_000
AAC_FRAME_SAMPLES = 1024


# -- tools -------------------------------------------------------------------------------


def _executable(path: Path | str | None) -> str | None:
    if path is None:
        return None
    candidate = Path(path)
    if candidate.is_file() and os.access(candidate, os.X_OK):
        return str(candidate)
    return None


def ffmpeg() -> str:
    """Path of ``ffmpeg`` (fails the test when missing)."""
    found = shutil.which("ffmpeg")
    if found is None:
        pytest.fail(f"ffmpeg not found on PATH: {SETUP}")
    return found


def packager() -> str:
    """Path of Shaka Packager (``SHAKA_PACKAGER``, ``.tools/bin/packager``, ``PATH``)."""
    named = os.environ.get("SHAKA_PACKAGER")
    if named:
        found = _executable(named)
        if found is None:
            pytest.fail(f"SHAKA_PACKAGER={named} is not an executable file")
        return found
    found = _executable(ROOT / ".tools" / "bin" / "packager") or shutil.which("packager")
    if found is None:
        pytest.fail(f"Shaka Packager not found (.tools/bin/packager, PATH): {SETUP}")
    return found


def caddy() -> str:
    """Path of ``caddy`` (fails the test when missing)."""
    found = shutil.which("caddy")
    if found is None:
        pytest.fail(f"caddy not found on PATH: {SETUP}")
    return found


def run(args: list[str], cwd: Path) -> str:
    """Run a tool in ``cwd``; fail the test with its stderr when it fails.

    Returns:
        Its stderr (FFmpeg and the packager log there).
    """
    done = subprocess.run(
        args, cwd=cwd, capture_output=True, text=True, timeout=TOOL_TIMEOUT_S, check=False
    )
    if done.returncode != 0:
        pytest.fail(f"{Path(args[0]).name} {' '.join(args[1:4])}... failed: {done.stderr[-3000:]}")
    return done.stderr


# -- the clear source and its reference pictures ------------------------------------------


@dataclass(frozen=True)
class Clip:
    """The clear source every case is packaged from, with its reference frame hashes.

    Attributes:
        path: ``source.mp4``: H.264 v:0 640x360 and v:1 320x180, AAC a:0 (mono, 48 kHz).
        frames: Video frames per stream (``DURATION_S * FPS``).
        reference: Height -> frame hashes in presentation order (``player._decode``'s
            ``frame_digest`` definition, computed here independently).
        audio_frames: AAC frames PyAV decodes from the source.
    """

    path: Path
    frames: int
    reference: dict[int, list[str]]
    audio_frames: int

    @property
    def folder(self) -> Path:
        """The folder holding the source (and the packaged cases beside it)."""
        return self.path.parent

    def stream_of_height(self, height: int) -> int:
        """The source's video stream index with this height."""
        return [h for _, h in SIZES].index(height)


def picture_hash(frame: av.VideoFrame) -> str:
    """SHA-1 of a yuv420p picture's visible samples (Y rows, then U, then V)."""
    if frame.format.name != "yuv420p":
        frame = frame.reformat(format="yuv420p")
    return hashlib.sha1(frame.to_ndarray().tobytes()).hexdigest()


def make_clip(folder: Path) -> Clip:
    """Encode the source with FFmpeg from lavfi (testsrc2 + sine), then hash its pictures."""
    path = folder / "source.mp4"
    (w0, h0), (w1, h1) = SIZES
    # fmt: off
    run(
        [
            ffmpeg(), "-hide_banner", "-loglevel", "error", "-y",
            "-f", "lavfi", "-i", f"testsrc2=size={w0}x{h0}:rate={FPS}",
            "-f", "lavfi", "-i", f"sine=frequency=440:sample_rate={SAMPLE_RATE}",
            "-t", str(DURATION_S),
            "-filter_complex", f"[0:v]split=2[a][b];[b]scale={w1}:{h1}[s]",
            "-map", "[a]", "-map", "[s]", "-map", "1:a",
            "-c:v", "libx264", "-preset", "veryfast", "-threads", "1", "-pix_fmt", "yuv420p",
            "-g", str(FPS * SEGMENT_S), "-keyint_min", str(FPS * SEGMENT_S),
            "-sc_threshold", "0",
            "-c:a", "aac", "-b:a", "96k",
            str(path),
        ],
        folder,
    )
    # fmt: on
    reference = {height: _reference_hashes(path, index) for index, (_, height) in enumerate(SIZES)}
    with av.open(str(path)) as container:
        audio = sum(len(p.decode()) for p in container.demux(container.streams.audio[0]))
    counts = {len(v) for v in reference.values()}
    assert counts == {DURATION_S * FPS}, f"source has {counts} frames per stream"
    return Clip(path=path, frames=DURATION_S * FPS, reference=reference, audio_frames=audio)


def _reference_hashes(path: Path, index: int) -> list[str]:
    with av.open(str(path)) as container:
        frames = sorted(
            (float(f.pts * f.time_base), picture_hash(f))
            for packet in container.demux(container.streams.video[index])
            for f in packet.decode()
            if isinstance(f, av.VideoFrame) and f.pts is not None
        )
    return [digest for _, digest in frames]


class Workshop:
    """Builds each case once per test session into its own folder (a per-run cache).

    Args:
        clip: The clear source; cases are built in folders beside it.
    """

    def __init__(self, clip: Clip) -> None:
        self.clip = clip
        self._built: dict[str, Path] = {}
        self._lock = threading.Lock()

    def build(self, name: str, make: Callable[[Path, Clip], str]) -> str:
        """Return the manifest path (relative to the served root) of case ``name``.

        Args:
            name: Folder name, unique per recipe.
            make: ``make(folder, clip) -> manifest file name``; runs once per session.
        """
        with self._lock:
            if name not in self._built:
                folder = self.clip.folder / name
                folder.mkdir(exist_ok=True)
                self._built[name] = folder / make(folder, self.clip)
            return str(self._built[name].relative_to(self.clip.folder))


# -- servers -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Served:
    """A server in front of the interop root.

    Attributes:
        name: ``lab``, ``caddy`` or ``http.server``.
        base_url: ``scheme://host:port``.
        ca_file: CA the SDK must trust (passed explicitly), ``None`` for plain HTTP.
        protocol: What the SDK is told to use (``h3`` proves HTTP/3 was spoken).
    """

    name: str
    base_url: str
    ca_file: str | None
    protocol: str = "auto"

    def url(self, path: str) -> str:
        """URL of ``path`` below the root."""
        return f"{self.base_url}/{path}"


def free_port() -> int:
    """A port number free for both TCP and UDP on loopback (HTTP/3 needs both)."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
            tcp.bind(("127.0.0.1", 0))
            port = int(tcp.getsockname()[1])
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                try:
                    udp.bind(("127.0.0.1", port))
                except OSError:
                    continue
            return port
    raise OSError("no port free for both TCP and UDP")


def _wait_listening(port: int, proc: subprocess.Popen[bytes], what: str) -> None:
    deadline = time.monotonic() + 15.0
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
            pytest.fail(f"{what} exited ({proc.returncode}): {err[-2000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    pytest.fail(f"{what} did not listen on port {port} within 15 s")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)
    for stream in (proc.stdout, proc.stderr):
        if stream is not None:
            stream.close()


CADDYFILE = """{{
    admin off
    auto_https disable_redirects
    skip_install_trust
    storage file_system {state}
    default_sni 127.0.0.1
    servers {{
        protocols h1 h2 h3
    }}
}}
https://127.0.0.1:{port} {{
    bind 127.0.0.1
    tls {cert} {key}
    root * {root}
    file_server
}}
"""


@contextmanager
def caddy_server(root: Path, *, cert_file: Path, key_file: Path, ca_file: Path) -> Iterator[Served]:
    """Serve ``root`` with Caddy over HTTPS (HTTP/1.1, 2 and 3) with a test certificate."""
    port = free_port()
    state = root.parent / "caddy-state"
    state.mkdir(exist_ok=True)
    config = state / "Caddyfile"
    config.write_text(
        CADDYFILE.format(port=port, cert=cert_file, key=key_file, root=root, state=state)
    )
    env = {**os.environ, "HOME": str(state), "XDG_DATA_HOME": str(state)}
    env["XDG_CONFIG_HOME"] = str(state)
    proc = subprocess.Popen(
        [caddy(), "run", "--config", str(config), "--adapter", "caddyfile"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=env,
    )
    try:
        _wait_listening(port, proc, "caddy")
        yield Served("caddy", f"https://127.0.0.1:{port}", str(ca_file), protocol="h3")
    finally:
        _stop(proc)


@contextmanager
def plain_http_server(root: Path) -> Iterator[Served]:
    """Serve ``root`` with ``python -m http.server``: HTTP/1.0, no ``Range`` support."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"],
        cwd=root,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        _wait_listening(port, proc, "python -m http.server")
        yield Served("http.server", f"http://127.0.0.1:{port}", None, protocol="h1")
    finally:
        _stop(proc)


# -- playing and comparing -----------------------------------------------------------------


@dataclass
class Playback:
    """What the SDK did with one case.

    Attributes:
        state: Final playback state (``ended`` when it played through).
        error: The fatal error, if any.
        stats: ``Player.stats().to_json()``.
        video: ``(presentation time s, frame hash)`` per decoded video frame, decode order.
        audio_pts_s: Presentation time of each decoded audio frame.
        events: The event log.
    """

    state: str
    error: BaseException | None
    stats: dict[str, Any]
    video: list[tuple[float, str]] = field(default_factory=list)
    audio_pts_s: list[float] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)

    @property
    def error_code(self) -> str | None:
        """The fatal error's stable code."""
        return None if self.error is None else str(getattr(self.error, "code", "?"))


def config_for(served: Served, **playback: Any) -> PlayerConfig:
    """Player configuration for ``served``: its CA, its protocol, frame hashing on."""
    keys = playback.pop("keys", None) or {}
    drm: Any = None
    if keys:
        from drm import DrmConfig

        drm = DrmConfig(keys=keys)
    config = PlayerConfig(
        transport=TransportConfig(ca_file=served.ca_file, protocol=served.protocol),
        playback=PlaybackConfig(hash_frames=True, **playback),
    )
    if drm is not None:
        import dataclasses

        config = dataclasses.replace(config, drm=drm)
    return config


async def _play(
    url: str, config: PlayerConfig, on_event: Callable[[Player, Any], None] | None = None
) -> Playback:
    player = Player(config, clock=VirtualClock())
    if on_event is not None:
        player.add_listener(lambda event: on_event(player, event))
    try:
        await player.load(url)
        await player.wait(timeout_s=PLAY_TIMEOUT_S)
    except Exception as exc:  # noqa: BLE001 - a load failure is a result to assert on
        return Playback(state="error", error=exc, stats=player.stats().to_json())
    finally:
        await player.aclose()
    times, hashes = player.frame_times("video"), player.frame_hashes("video")
    return Playback(
        state=player.state.value,
        error=player.error,
        stats=player.stats().to_json(),
        video=list(zip(times, hashes, strict=True)),
        audio_pts_s=player.frame_times("audio"),
        events=player.event_log(),
    )


def play(
    served: Served,
    path: str,
    *,
    adjust: Callable[[PlayerConfig], PlayerConfig] | None = None,
    on_event: Callable[[Player, Any], None] | None = None,
    **playback: Any,
) -> Playback:
    """Play ``path`` from ``served`` to the end on the virtual clock, decoding and hashing.

    Args:
        served: The server.
        path: Manifest path below its root.
        adjust: Changes other sections of the configuration (ABR, transport retries...).
        on_event: Called with the player and each event, synchronously (to steer it).
        **playback: ``PlaybackConfig`` fields (and ``keys``: ClearKey KID -> key hex).
    """
    config = config_for(served, **playback)
    if adjust is not None:
        config = adjust(config)
    return asyncio.run(_play(served.url(path), config, on_event))


def downloads(playback: Playback, track: str = "video") -> list[dict[str, Any]]:
    """The ``SegmentDownloaded`` events of one track (``number`` -1: init, -2: index)."""
    return [e for e in playback.events if e["type"] == "SegmentDownloaded" and e["track"] == track]


def eager_abr(config: PlayerConfig) -> PlayerConfig:
    """``play(adjust=...)``: ABR that starts low and climbs after one segment on loopback.

    The 4 s clip never builds the buffer the default controller wants before climbing. Here
    the 250 kb/s start estimate picks the 180p rung, the first media segment (over
    ``min_sample_bytes``) replaces the estimate, and no buffer is required to switch up. The
    player tells the controller its buffer cap, so the plan's reserve is the cap's fraction
    (``plan_floor_buffer_fraction``), not ``plan_floor_s``: both are set near zero.
    """
    from abr import AbrConfig

    abr = AbrConfig(
        default_bandwidth_bps=250_000.0,
        min_total_bytes=0,
        min_buffer_for_up_s=0.0,
        plan_floor_s=0.5,
        plan_floor_buffer_fraction=0.015,
    )
    return dataclasses.replace(config, abr=abr)


@dataclass(frozen=True)
class Comparison:
    """Decoded pictures against the clear source.

    Attributes:
        frames: Pictures decoded.
        matched: Pictures identical to the source picture with their frame number.
        mismatched: Frame numbers whose picture differs from the source's (every height).
        missing: Frame numbers of the source never decoded.
        repeated: Frame numbers decoded more than once.
        offset_s: Presentation time of frame 0 as decoded (0 when times are honoured).
    """

    frames: int
    matched: int
    mismatched: tuple[int, ...]
    missing: tuple[int, ...]
    repeated: tuple[int, ...]
    offset_s: float

    @property
    def is_exact(self) -> bool:
        """Every source picture decoded exactly once, bit-identical."""
        return not (self.mismatched or self.missing or self.repeated) and self.matched > 0


def compare_pictures(playback: Playback, clip: Clip, *, anchor: str = "absolute") -> Comparison:
    """Compare every decoded picture with the source picture of the same frame number.

    Args:
        playback: What the SDK decoded (``video`` with hashes).
        clip: The clear source.
        anchor: ``absolute``: frame number = presentation time x fps (timestamps must be
            right); ``first``: numbered from the first decoded picture (MPEG-TS, whose
            timestamps start wherever the muxer chose).
    """
    if not playback.video:
        return Comparison(0, 0, (), tuple(range(clip.frames)), (), 0.0)
    ordered = sorted(playback.video)
    origin = 0.0 if anchor == "absolute" else ordered[0][0]
    seen: dict[int, int] = {}
    matched, mismatched = 0, []
    for pts, digest in ordered:
        number = round((pts - origin) * FPS)
        seen[number] = seen.get(number, 0) + 1
        if any(0 <= number < len(r) and r[number] == digest for r in clip.reference.values()):
            matched += 1
        else:
            mismatched.append(number)
    return Comparison(
        frames=len(ordered),
        matched=matched,
        mismatched=tuple(mismatched),
        missing=tuple(n for n in range(clip.frames) if n not in seen),
        repeated=tuple(n for n, count in seen.items() if count > 1),
        offset_s=ordered[0][0],
    )
