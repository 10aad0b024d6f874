"""Adaptive bitrate: throughput estimation, rendition choice, QoE, trace-driven simulator."""

from __future__ import annotations

from abr.config import (
    AbrConfig,
)
from abr.errors import (
    AbrConfigError,
    AbrError,
    InvalidLadder,
)

__all__ = [
    "AbrConfig",
    "AbrConfigError",
    "AbrError",
    "InvalidLadder",
]
