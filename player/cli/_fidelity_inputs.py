"""Inputs of a fidelity run: the plan, the lab ladder (cached by spec), the traces.

``python -m player fidelity`` plays the same lab ladder over the same throughput traces twice:
in ``abr``'s simulator and for real through the lab (``player/cli/_fidelity.py``). This module
prepares what both sides share: a ladder whose every segment size is known, the simulator's
``abr.Video`` of it, and the traces, read from any format ``abr.parse_trace`` knows.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

import abr
from player.config import PlaybackConfig
from player.errors import PlayerConfigError
from player.lab import ContentInfo, ContentSpec, generate_content

__all__: list[str] = []

_LADDER_FILE = "fidelity-ladder.json"
"""What a cached ladder records: manifest path, declared bandwidths and every segment size."""

_CACHE_VERSION = 1
"""Bumped when the cached ladder's layout changes, so an old cache is not reused."""


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class FidelityPlan:
    """How a fidelity run plays each trace, in the simulator and for real.

    Attributes:
        algorithm: Controller name (``abr.ALGORITHMS``); both sides build it with
            ``abr.make_controller`` and its estimator with ``abr.make_estimator``.
        duration_s: Length of the lab ladder, seconds: every session plays all of it.
        segment_s: Segment length of the ladder, seconds (a GOP each).
        rtt_s: Round-trip time of the emulated path (the emulator delays each direction by
            half). 80 ms is Pensieve's ``LINK_RTT``; the simulator pays it before each
            request's first byte, as the emulator does.
        request_overhead_s: Time a request costs beyond the round trip: the lab origin's
            processing (hypercorn and aioquic in Python) and the player's turn between two
            requests. The simulator adds it to each request's latency. Measured per request
            (docs/abr.md, "Simulation against real playback"): the time a segment took beyond
            the RTT and the link's fluid model, plus the gap before the next request. Its
            median was 8.6 ms on the quiet 2-core machine and 8.9-9.7 ms with a load average
            of 6-14; its mean was 12.6 ms quiet and 17-23 ms loaded, the excess being the
            host's load spikes, which a deterministic model cannot place. 9 ms: the median.
        loss: Random datagram loss of the emulated path (each direction).
        max_queue_s: The emulator's bottleneck buffer, seconds of traffic (drop-tail). The
            traces record the throughput a transport achieved, so the replaying link must not
            add losses of its own: with the emulator's 0.2 s default, aioquic's congestion
            control lost up to 25 % of a transfer's time on Norway traces after an overshoot
            (up to 4x for a first segment). With 1 s, 0.5-1 % of segments still arrived
            0.1-3.8 s later than the link could carry them, each after a few datagrams dropped
            at its tail (loss recovery waits for a timeout). Without a bound, aioquic filled
            the queue to 1.8-2.1 s at most on those traces; 4 s drops nothing there and still
            bounds what an abandoned download leaves queued. Mahimahi, which Pensieve replays
            these traces with, queues without bound by default.
        payload_factor: Fraction of the link rate that carries segment bytes. The emulator
            shapes UDP payload: QUIC short headers, AEAD tags and STREAM/HTTP/3 DATA framing
            take about 3 % of 1200-byte datagrams (measured: 1.032 bytes on the link per
            segment byte; fitted per segment: 0.97, docs/abr.md, "Simulation against real
            playback").
        setup_rtts: Round trips before the simulated session starts: the QUIC handshake and
            the manifest (its bytes are charged too). Init segments are the simulator's own
            (``abr.Video.init_sizes_bytes``): one request on each rung's first use.
        decode: Decode every frame in the real session (PyAV); off by default because the
            simulator does not model decoding time.
        playback: The player's buffering settings; the simulator's buffer cap and
            abandonment polling are derived from them.
        jobs: Real sessions played at the same time (each in its own process).
        seed: Seed of the emulator's loss generator.
    """

    algorithm: str = "hybrid"
    duration_s: int = 60
    segment_s: int = 2
    rtt_s: float = 0.08
    request_overhead_s: float = 0.009
    loss: float = 0.0
    max_queue_s: float = 4.0
    payload_factor: float = 0.97
    setup_rtts: int = 2
    decode: bool = False
    playback: PlaybackConfig = dataclasses.field(default_factory=PlaybackConfig)
    jobs: int = 4
    seed: int = 0

    def __post_init__(self) -> None:
        """Validate.

        Raises:
            PlayerConfigError: A value is out of range or the algorithm is unknown.
        """
        if self.algorithm not in abr.ALGORITHMS:
            raise PlayerConfigError(
                f"unknown algorithm {self.algorithm!r} (choose from {', '.join(abr.ALGORITHMS)})"
            )
        if self.duration_s < 2 * self.segment_s or self.segment_s <= 0:
            raise PlayerConfigError("need segment_s > 0 and duration_s >= 2 segments")
        if (
            self.rtt_s < 0
            or self.request_overhead_s < 0
            or not 0 <= self.loss < 1
            or self.max_queue_s <= 0
        ):
            raise PlayerConfigError(
                "need rtt_s, request_overhead_s >= 0, 0 <= loss < 1, max_queue_s > 0"
            )
        if not 0 < self.payload_factor <= 1 or self.setup_rtts < 0 or self.jobs < 1:
            raise PlayerConfigError("need 0 < payload_factor <= 1, setup_rtts >= 0, jobs >= 1")

    def content_spec(self) -> ContentSpec:
        """The ladder both sides play: the lab's default rungs, video only.

        Video only, because the simulator models one track: an audio track would share the
        link with video in the real session and nowhere in the simulated one.
        """
        return ContentSpec(duration_s=self.duration_s, segment_s=self.segment_s, audio_languages=())


@dataclasses.dataclass(frozen=True, slots=True)
class Ladder:
    """A generated ladder with every segment's size.

    Attributes:
        root: Content root (what the lab CDN serves).
        manifest: DASH manifest path relative to ``root``.
        ids: Representation id of each rung, ascending bitrate.
        bandwidths_bps: Declared bandwidth of each rung (the MPD's, what the player's
            controller sees as the rung's bitrate).
        sizes_bytes: Size of segment ``k`` at rung ``q``, shape ``(segments, rungs)``.
        init_bytes: Size of each rung's init segment.
        manifest_bytes: Size of the manifest.
        segment_s: Segment duration, seconds.
    """

    root: Path
    manifest: str
    ids: tuple[str, ...]
    bandwidths_bps: tuple[float, ...]
    sizes_bytes: tuple[tuple[int, ...], ...]
    init_bytes: tuple[int, ...]
    manifest_bytes: int
    segment_s: float

    def video(self) -> abr.Video:
        """The simulator's view: the declared ladder, the real segment and init sizes."""
        return abr.Video(
            segment_duration_s=self.segment_s,
            bitrates_bps=np.array(self.bandwidths_bps, dtype=np.float64),
            sizes_bytes=np.array(self.sizes_bytes, dtype=np.float64),
            init_sizes_bytes=np.array(self.init_bytes, dtype=np.float64),
        )

    def to_json(self) -> dict[str, object]:
        """The ladder as JSON (the cache record, less the root)."""
        return {
            "version": _CACHE_VERSION,
            "manifest": self.manifest,
            "ids": list(self.ids),
            "bandwidths_bps": list(self.bandwidths_bps),
            "sizes_bytes": [list(row) for row in self.sizes_bytes],
            "init_bytes": list(self.init_bytes),
            "manifest_bytes": self.manifest_bytes,
            "segment_s": self.segment_s,
        }


def spec_key(spec: ContentSpec) -> str:
    """A short stable hash of everything that shapes the generated ladder."""
    text = json.dumps({"v": _CACHE_VERSION, "spec": repr(spec)}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _from_content(info: ContentInfo) -> Ladder:
    videos = [t for t in info.tracks if t.kind == "video"]
    videos.sort(key=lambda t: t.bandwidth_bps)
    counts = {len(t.segments) for t in videos}
    if len(counts) != 1:
        raise PlayerConfigError("the ladder's rungs have different segment counts")
    sizes = tuple(tuple(t.segments[k][2] for t in videos) for k in range(counts.pop()))
    return Ladder(
        root=info.root,
        manifest=info.dash_path,
        ids=tuple(t.id for t in videos),
        bandwidths_bps=tuple(float(t.bandwidth_bps) for t in videos),
        sizes_bytes=sizes,
        init_bytes=tuple((info.root / t.folder / "init.mp4").stat().st_size for t in videos),
        manifest_bytes=(info.root / info.dash_path).stat().st_size,
        segment_s=float(info.spec.segment_s),
    )


def _load_cached(root: Path) -> Ladder | None:
    """The cached ladder at ``root`` if its record is current and its files are intact."""
    try:
        record = json.loads((root / _LADDER_FILE).read_text(encoding="utf-8"))
        if record.get("version") != _CACHE_VERSION:
            return None
        ladder = Ladder(
            root=root,
            manifest=str(record["manifest"]),
            ids=tuple(record["ids"]),
            bandwidths_bps=tuple(float(b) for b in record["bandwidths_bps"]),
            sizes_bytes=tuple(tuple(int(n) for n in row) for row in record["sizes_bytes"]),
            init_bytes=tuple(int(n) for n in record["init_bytes"]),
            manifest_bytes=int(record["manifest_bytes"]),
            segment_s=float(record["segment_s"]),
        )
        for q, rep in enumerate(ladder.ids):
            for k, row in enumerate(ladder.sizes_bytes, start=1):
                if (root / "video" / rep / f"seg-{k}.m4s").stat().st_size != row[q]:
                    return None
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return ladder


def prepare_ladder(spec: ContentSpec, cache_dir: Path) -> tuple[Ladder, bool]:
    """Return the ladder for ``spec`` from ``cache_dir``, generating it when missing.

    The ladder goes to ``cache_dir/<spec hash>``; it is generated in a temporary folder next
    to it and renamed into place, so concurrent runs never see half a ladder.

    Returns:
        The ladder, and whether it was reused from the cache.
    """
    target = cache_dir / spec_key(spec)
    cached = _load_cached(target)
    if cached is not None:
        return cached, True
    cache_dir.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=".ladder-", dir=cache_dir))
    try:
        ladder = _from_content(generate_content(scratch, spec))
        (scratch / _LADDER_FILE).write_text(json.dumps(ladder.to_json()), encoding="utf-8")
        if target.exists():
            shutil.rmtree(target, ignore_errors=True)
        try:
            os.replace(scratch, target)
        except OSError:  # another run put an intact ladder there first
            pass
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    loaded = _load_cached(target)
    if loaded is None:
        raise PlayerConfigError(f"{target}: the generated ladder could not be read back")
    return loaded, False


def trace_files(paths: Sequence[Path]) -> list[Path]:
    """Files named, and the files inside named folders (sorted, hidden files skipped).

    Raises:
        PlayerConfigError: A path does not exist or no file was found.
    """
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(
                p for p in sorted(path.iterdir()) if p.is_file() and not p.name.startswith(".")
            )
        elif path.is_file():
            files.append(path)
        else:
            raise PlayerConfigError(f"{path}: no such trace file or folder")
    if not files:
        raise PlayerConfigError("no trace files found")
    return files


def select_traces(files: Sequence[Path], *, limit: int | None, seed: int | None) -> list[Path]:
    """The first ``limit`` files, or ``limit`` files drawn at random with ``seed`` (sorted)."""
    if limit is None or limit >= len(files):
        return list(files)
    if seed is None:
        return list(files[:limit])
    picked = np.random.default_rng(seed).choice(len(files), size=limit, replace=False)
    return [files[i] for i in sorted(picked.tolist())]


def read_trace(path: Path) -> abr.NetworkTrace:
    """Read a trace in any format ``abr.parse_trace`` knows (named by its file name)."""
    return abr.parse_trace(path.read_bytes(), name=path.name)


def with_latency(trace: abr.NetworkTrace, latency_s: float) -> abr.NetworkTrace:
    """The trace with every period's latency set to ``latency_s`` (the emulated RTT)."""
    return abr.NetworkTrace(
        trace.name,
        trace.durations_s,
        trace.bandwidth_bps,
        np.full(len(trace.durations_s), latency_s, dtype=np.float64),
    )


def rotated(trace: abr.NetworkTrace, offset_s: float) -> abr.NetworkTrace:
    """The looping trace as seen from ``offset_s`` on: time ``t`` of it is ``t + offset_s``.

    >>> t = abr.NetworkTrace("t", np.array([1.0, 2.0]), np.array([1e6, 2e6]), np.zeros(2))
    >>> r = rotated(t, 1.5)
    >>> r.durations_s.tolist(), r.bandwidth_bps.tolist()
    ([1.5, 1.0, 0.5], [2000000.0, 1000000.0, 2000000.0])
    """
    d = trace.durations_s
    period = float(np.sum(d))
    offset = offset_s % period if period > 0 else 0.0
    if offset <= 0:
        return trace
    ends = np.cumsum(d)
    i = min(int(np.searchsorted(ends, offset, side="right")), len(d) - 1)
    left = float(ends[i] - offset)
    order = np.array([i, *range(i + 1, len(d)), *range(0, i), i], dtype=np.int64)
    durations = np.concatenate([[left], d[order[1:-1]], [float(d[i]) - left]])
    keep = durations > 0
    return abr.NetworkTrace(
        trace.name,
        durations[keep].astype(np.float64),
        trace.bandwidth_bps[order][keep],
        trace.latency_s[order][keep],
    )
