"""The player's part of the lab: generated test content, VOD and live."""

from __future__ import annotations

from player.lab._content import ContentInfo, ContentSpec, RenditionSpec, generate_content
from player.lab._live import LiveContent

__all__ = ["ContentInfo", "ContentSpec", "LiveContent", "RenditionSpec", "generate_content"]
