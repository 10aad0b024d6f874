"""Configuration of the player: its own sections, composed with the other packages' sections."""

from __future__ import annotations

from dataclasses import dataclass, field

from abr.config import AbrConfig
from drm.config import DrmConfig
from player.errors import PlayerConfigError
from transport.config import TransportConfig

__all__ = ["ManifestConfig", "PlayerConfig"]


@dataclass(frozen=True, kw_only=True, slots=True)
class ManifestConfig:
    """Bounds for parsing untrusted manifests."""

    max_manifest_bytes: int = 16 * 1024 * 1024
    """Largest manifest accepted. A 24 h live HLS playlist at 2 s segments is about 5 MB."""

    max_segments: int = 1_000_000
    """Most segments one representation may expand to (bounds SegmentTimeline repeats)."""

    max_xml_depth: int = 64
    """Deepest XML element nesting accepted; real MPDs nest fewer than 10 levels."""

    max_representations: int = 10_000
    """Most representations/variants in one presentation."""

    def __post_init__(self) -> None:
        """Validate ranges.

        Raises:
            PlayerConfigError: A bound is not positive.
        """
        for name in ("max_manifest_bytes", "max_segments", "max_xml_depth", "max_representations"):
            if getattr(self, name) <= 0:
                raise PlayerConfigError(f"ManifestConfig.{name} must be positive")


@dataclass(frozen=True, kw_only=True, slots=True)
class PlayerConfig:
    """Everything a ``Player`` needs, one section per package."""

    manifest: ManifestConfig = field(default_factory=ManifestConfig)
    """Manifest parsing bounds."""

    abr: AbrConfig = field(default_factory=AbrConfig)
    """ABR settings."""

    transport: TransportConfig = field(default_factory=TransportConfig)
    """HTTP settings."""

    drm: DrmConfig = field(default_factory=DrmConfig)
    """DRM settings."""
