"""Children of MPD elements by name, grouped once per element, and per-parse memos.

``Element.find``/``findall`` scan every child. Each Representation looks at its
AdaptationSet (``ContentProtection``, ``AudioChannelConfiguration``, ``SegmentTemplate``...),
so an AdaptationSet with thousands of Representations made those scans quadratic. Grouping
an element's children once, and remembering what is derived from a shared element, keeps a
parse linear in the size of the MPD.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable
from typing import Any, TypeVar

from player.manifest._hls_urls import UrlResolver

__all__: list[str] = []

_T = TypeVar("_T")
_NONE: list[ET.Element] = []


class ElementIndex:
    """Per-parse index of the children of elements, by tag (local names)."""

    def __init__(self) -> None:
        self._groups: dict[int, dict[str, list[ET.Element]]] = {}
        self._memo: dict[tuple[Any, ...], Any] = {}
        self._resolvers: dict[str, UrlResolver] = {}

    def findall(self, el: ET.Element, tag: str) -> list[ET.Element]:
        """The children of ``el`` named ``tag``, in document order (do not modify the list)."""
        groups = self._groups.get(id(el))
        if groups is None:
            groups = {}
            for child in el:
                groups.setdefault(child.tag, []).append(child)
            self._groups[id(el)] = groups
        return groups.get(tag, _NONE)

    def find(self, el: ET.Element, tag: str) -> ET.Element | None:
        """The first child of ``el`` named ``tag``, or ``None``."""
        found = self.findall(el, tag)
        return found[0] if found else None

    def resolve(self, base: str, ref: str, *, manifest_url: str) -> str:
        """``resolve_url(base, ref)``, with a fast path for plain relative references.

        Raises:
            ManifestParseError: The result is not an absolute http(s) URL.
        """
        resolver = self._resolvers.get(base)
        if resolver is None:
            resolver = self._resolvers[base] = UrlResolver(base, manifest_url=manifest_url)
        return resolver.resolve(ref)

    def memo(self, key: tuple[Any, ...], compute: Callable[[], _T]) -> _T:
        """``compute()``, once per ``key`` for the whole parse.

        Key it by values or by ids of elements (which the tree keeps alive during the parse),
        never by ids of temporary objects, whose ids are reused.
        """
        if key in self._memo:
            value: _T = self._memo[key]
            return value
        value = compute()
        self._memo[key] = value
        return value
