"""Play ClearKey-encrypted content: a license server on the lab, a bearer token, cenc.

Run: python examples/clearkey.py
"""

from __future__ import annotations

import asyncio
import secrets
import tempfile
from pathlib import Path

from drm import DrmConfig, LicenseServerApp, package_mp4
from player import Player, PlayerConfig, VirtualClock
from player.events import LicenseAcquired
from player.lab import ContentSpec, generate_content
from transport import TransportConfig
from transport.lab import LabCdn, LabServer, TestCA


async def main(root: Path) -> None:
    kid, key, token = secrets.token_hex(16), secrets.token_bytes(16), secrets.token_urlsafe(12)
    ca = TestCA(root / "ca")
    licenses = LabServer(
        LicenseServerApp({kid: key.hex()}, {token: [kid]}), ca=ca
    ).start_in_thread()
    try:
        spec = ContentSpec(
            duration_s=6, scheme="cenc", kid_hex=kid, license_url=f"{licenses.base_url}/license"
        )
        content = generate_content(
            root / "content",
            spec,
            encrypt=lambda data: package_mp4(data, key_id=kid, key=key, scheme="cenc"),
        )
        cdn = LabCdn(content.root, edges=1, ca=ca).start_in_thread()
        try:
            config = PlayerConfig(
                transport=TransportConfig(ca_file=cdn.ca_file),
                drm=DrmConfig(license_headers={"Authorization": f"Bearer {token}"}),
            )
            async with Player(config, clock=VirtualClock()) as player:
                player.add_listener(
                    lambda e: (
                        print(f"license for {e.kids} in {e.latency_s * 1000:.0f} ms")
                        if isinstance(e, LicenseAcquired)
                        else None
                    )
                )
                await player.load(f"{cdn.edges[0].base_url}/manifest.mpd")
                state = await player.wait(timeout_s=60)
                stats = player.stats()
                print(f"state={state.value} frames={stats.frames_decoded}", end=" ")
                print(f"errors={stats.decode_errors}")
        finally:
            cdn.stop()
    finally:
        licenses.stop()


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(main(Path(tmp)))
