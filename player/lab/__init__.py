"""The player's part of the lab: generated test content (and, later, live publishing)."""

from __future__ import annotations

from player.lab._content import ContentInfo, ContentSpec, RenditionSpec, generate_content

__all__ = ["ContentInfo", "ContentSpec", "RenditionSpec", "generate_content"]
