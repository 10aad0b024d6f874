"""Resolving the many segment URIs of a playlist quickly, with ``resolve_url``'s rules.

A live playlist lists thousands of relative names such as ``seg123.ts``. For such a plain
relative path (no scheme, no leading ``/``, no ``.``/``..`` segment, no whitespace) RFC 3986
resolution is "the base's directory + the reference", which is what ``urljoin`` returns; the
base itself is checked once with ``resolve_url``. Every other reference goes through
``resolve_url`` itself. ``tests/player/test_manifest_hls_urls.py`` checks the two agree.
"""

from __future__ import annotations

import re

from player.manifest._urls import resolve_url

__all__: list[str] = []

_PLAIN = re.compile(r"[A-Za-z0-9_~!$&'()*+,=@%-][A-Za-z0-9_~!$&'()*+,=@%./-]*(?:\?[^\s#\\]+)?")
"""A relative path (no colon, no ``;`` parameters) with an optional non-empty query."""


class UrlResolver:
    """Resolve references against one base URL, refusing anything but http(s).

    Args:
        base: The absolute base URL (the playlist URL).
        manifest_url: The URL named in errors.
    """

    def __init__(self, base: str, *, manifest_url: str) -> None:
        self.base = resolve_url(base, base, manifest_url=manifest_url)
        self.manifest_url = manifest_url
        cut = len(self.base)
        for mark in ("#", "?"):
            at = self.base.find(mark)
            if at != -1:
                cut = min(cut, at)
        path_start = self.base.find("/", self.base.find("//") + 2)
        if path_start == -1 or path_start > cut:
            self._directory = self.base[:cut] + "/"
        else:
            self._directory = self.base[: self.base.rfind("/", 0, cut) + 1]

    def resolve(self, ref: str) -> str:
        """Return the absolute URL of ``ref``.

        Raises:
            ManifestParseError: The result is not an absolute http(s) URL.
        """
        if _PLAIN.fullmatch(ref) is not None:
            path = ref.split("?", 1)[0]
            if "/./" not in f"/{path}/" and "/../" not in f"/{path}/" and "//" not in path:
                return self._directory + ref
        return resolve_url(self.base, ref, manifest_url=self.manifest_url)

    def resolve_key(self, ref: str) -> str:
        """Return the absolute URL of a key URI, which may also be a ``data:`` URI."""
        return resolve_url(self.base, ref, manifest_url=self.manifest_url, allow_data=True)
