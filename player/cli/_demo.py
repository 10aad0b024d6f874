"""The one-command demo: the whole lab, encrypted content, a failover and a throttle.

``DemoLab`` (and ``run_demo``, which uses it) starts a license server and a session
service, builds a ClearKey-encrypted ladder with PyAV (keeping its keys file beside it),
starts two CDN edges and an origin (HTTP/3 and HTTP/1.1-2) and a network emulator in front
of the primary edge, then plays the stream headless with decoding. Part way through it
throttles the emulator (the ABR steps down), then kills the primary edge (the transport
fails over), and it returns the QA report.
"""

from __future__ import annotations

import asyncio
import dataclasses
import secrets
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from drm import DrmConfig, LicenseServerApp, package_mp4
from player._player import Player
from player.cli._keysfile import KEYS_FILE_NAME, write_keys_file
from player.cli._qa import play_to_report
from player.config import HeartbeatConfig, PlaybackConfig, PlayerConfig, SessionServiceConfig
from player.events import Event
from player.lab import ContentInfo, ContentSpec, generate_content
from player.sessions import SessionService
from transport import TransportConfig
from transport.lab import LabCdn, LabServer, NetworkEmulator, TestCA

__all__: list[str] = []  # reached through `python -m player demo` (needs the lab extra)


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class DemoPlan:
    """What the demo does and when.

    Times are media positions of the download frontier (how far the buffer reaches), so
    each change hits the downloads it is meant to, whatever the clock.

    Attributes:
        duration_s: Clip length.
        stream_format: ``dash`` or ``hls``.
        scheme: ``cenc`` or ``cbcs``.
        throttle_from_s: Frontier where the network is throttled.
        throttle_to_s: Frontier where the throttle ends.
        throttle_bps: Rate while throttled (below the top rungs, above the lowest).
        kill_edge_at_s: Frontier where the primary edge dies.
        buffering_goal_s: Buffer goal; above the ABR's up-switch minimum, short enough
            that network changes show up within the clip.
        virtual_clock: Play as fast as downloads allow.
    """

    duration_s: int = 60
    stream_format: str = "dash"
    scheme: str = "cenc"
    throttle_from_s: float = 24.0
    throttle_to_s: float = 40.0
    throttle_bps: float = 1_000_000.0
    kill_edge_at_s: float = 46.0
    buffering_goal_s: float = 16.0
    virtual_clock: bool = True


_VIEWER = "demo-viewer"
Progress = Callable[[str], object]


class _Script:
    """Fires the plan's network changes as the playhead passes their positions."""

    def __init__(self, plan: DemoPlan, emulator: Any, kill_primary: Callable[[], object]) -> None:
        self._plan = plan
        self._emulator = emulator
        self._kill = kill_primary
        self.log: list[dict[str, Any]] = []
        self._done: set[str] = set()

    def __call__(self, player: Player, event: Event) -> None:
        position = player.position_s + player.buffer_s
        plan = self._plan
        if position >= plan.throttle_from_s and "throttle" not in self._done:
            self._emulator.set_rate(plan.throttle_bps)
            self._mark("throttle", event.at_s, position, rate_bps=plan.throttle_bps)
        if position >= plan.throttle_to_s and "unthrottle" not in self._done:
            self._emulator.set_rate(None)
            self._mark("unthrottle", event.at_s, position)
        if position >= plan.kill_edge_at_s and "kill_primary_edge" not in self._done:
            self._kill()
            self._mark("kill_primary_edge", event.at_s, position)

    def _mark(self, action: str, at_s: float, frontier_s: float, **extra: Any) -> None:
        self._done.add(action)
        self.log.append({"action": action, "at_s": at_s, "frontier_s": frontier_s, **extra})


class DemoLab:
    """The demo's servers and content: a context manager (servers run in threads).

    Entering starts the license server and the session service (one test CA for all);
    ``build_content`` then encodes and encrypts the ladder (synchronous, minutes of CPU for
    long clips, so a command line can interrupt it) and writes its keys file; ``play``
    starts the CDN and the emulator and plays through them.

    Args:
        plan: What to do and when.
        root: Where content, certificates and the keys file go.
    """

    def __init__(self, plan: DemoPlan, root: Path) -> None:
        self.plan = plan
        self.root = root
        self.kid, self._key = secrets.token_hex(16), secrets.token_bytes(16)
        self.token = secrets.token_urlsafe(16)
        self.content: ContentInfo | None = None
        self.keys_file = root / "content" / KEYS_FILE_NAME
        self._servers: list[Any] = []

    def __enter__(self) -> DemoLab:
        self.ca = TestCA(self.root / "ca")
        license_app = LicenseServerApp({self.kid: self._key.hex()}, {self.token: [self.kid]})
        try:
            self._servers.append(LabServer(license_app, ca=self.ca).start_in_thread())  # type: ignore[arg-type]
            sessions_app = SessionService(
                SessionServiceConfig(),
                db_path=str(self.root / "sessions.db"),
                tokens={_VIEWER: self.token},
            )
            self._servers.append(LabServer(sessions_app, ca=self.ca).start_in_thread())
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        while self._servers:
            self._servers.pop().stop()

    @property
    def license_url(self) -> str:
        """The license server's URL."""
        return str(self._servers[0].base_url) + "/license"

    @property
    def sessions_url(self) -> str:
        """The session service's base URL."""
        return str(self._servers[1].base_url)

    def build_content(self, progress: Progress | None = None) -> ContentInfo:
        """Encode, encrypt and package the ladder; write the keys file beside it."""
        plan = self.plan
        spec = ContentSpec(
            duration_s=plan.duration_s,
            scheme=plan.scheme,
            kid_hex=self.kid,
            license_url=self.license_url,
        )
        key = self._key
        self.content = generate_content(
            self.root / "content",
            spec,
            encrypt=lambda data: package_mp4(data, key_id=self.kid, key=key, scheme=plan.scheme),
            progress=progress,
        )
        write_keys_file(
            self.keys_file,
            {self.kid: key.hex()},
            scheme=plan.scheme,
            dash=self.content.dash_path,
            hls=self.content.hls_path,
        )
        return self.content

    async def play(
        self, *, stop: asyncio.Event | None = None, show_status: bool = False
    ) -> dict[str, Any]:
        """Start the CDN and the emulator, play through them, return the report."""
        content = self.content or self.build_content()
        cdn = LabCdn(content.root, edges=2, ca=self.ca).start_in_thread()
        try:
            path = content.dash_path if self.plan.stream_format == "dash" else content.hls_path
            services = _Services(
                self.license_url, self.sessions_url, self.token, self.root / "outbox.db"
            )
            return await _play(self.plan, cdn, services, path, stop=stop, show_status=show_status)
        finally:
            cdn.stop()


async def run_demo(plan: DemoPlan = DemoPlan(), *, workdir: Path | None = None) -> dict[str, Any]:
    """Build the lab, play through it, and return the report (``play --report`` format).

    Args:
        plan: What to do and when.
        workdir: Where to put content, its keys file and certificates (a temporary folder
            by default).

    Returns:
        The QA report, with ``demo`` describing the lab and the scripted actions.
    """
    with tempfile.TemporaryDirectory(prefix="streamsdk-demo-") as tmp:
        root = Path(workdir) if workdir is not None else Path(tmp)
        with DemoLab(plan, root) as lab:
            return await lab.play()


@dataclasses.dataclass(frozen=True, slots=True)
class _Services:
    license_url: str
    sessions_url: str
    token: str
    outbox: Path


async def _play(
    plan: DemoPlan,
    cdn: Any,
    services: _Services,
    path: str,
    *,
    stop: asyncio.Event | None,
    show_status: bool,
) -> dict[str, Any]:
    primary = cdn.edges[0]
    emulator = NetworkEmulator(primary.base_url, duration_s=3600.0).start_in_thread()
    auth = {"Authorization": f"Bearer {services.token}"}
    license_url = services.license_url
    try:
        config = PlayerConfig(
            transport=TransportConfig(ca_file=cdn.ca_file),
            # HLS playlists carry no license URL (DASH's MPD does): name the server here.
            drm=DrmConfig(license_url=license_url, license_headers=auth),
            playback=PlaybackConfig(
                alternate_origins=(cdn.edges[1].base_url, cdn.origin.base_url),
                buffering_goal_s=plan.buffering_goal_s,
            ),
            heartbeat=HeartbeatConfig(
                service_url=services.sessions_url, headers=auth, outbox_path=str(services.outbox)
            ),
        )

        def kill_primary() -> None:
            # The primary path dies as a whole: the edge and the relay in front of it.
            primary.server.kill()
            threading.Thread(target=emulator.stop, name="demo-kill-relay", daemon=True).start()

        script = _Script(plan, emulator.emulator, kill_primary)
        report = await play_to_report(
            f"{emulator.base_url}/{path}",
            config,
            virtual_clock=plan.virtual_clock,
            on_event=script,
            identity={"viewer_id": _VIEWER, "title_id": "demo-title", "device_id": "demo-device"},
            stop=stop,
            show_status=show_status,
        )
    finally:
        emulator.stop()
    report["demo"] = {
        "plan": dataclasses.asdict(plan),
        "lab": {
            "relay_to_primary": emulator.base_url,
            "edges": [edge.base_url for edge in cdn.edges],
            "origin": cdn.origin.base_url,
            "license_url": license_url,
            "sessions_url": services.sessions_url,
        },
        "actions": script.log,
    }
    return report
