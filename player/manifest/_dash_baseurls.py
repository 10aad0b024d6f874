"""DASH ``BaseURL`` inheritance: every combination of the levels' base URLs, as ``Location``s.

Each level (MPD, Period, AdaptationSet, Representation) may list several ``BaseURL``s, each
resolved against every base URL of the level above. ``serviceLocation``, ``dvb:priority``
and ``dvb:weight`` are taken from the innermost element that states them. The number of
combinations is bounded by the number of ``BaseURL`` elements in the document, so a hostile
MPD cannot multiply them.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass

from player.manifest._dash_tree import ElementIndex
from player.manifest._dash_values import attr_int, attr_offset, attr_str
from player.manifest._model import Location

__all__: list[str] = []

_DVB_DEFAULT_PRIORITY = 1
"""DVB-DASH (ETSI TS 103 285) default ``dvb:priority`` when another BaseURL declares one."""
"""Most locations kept per representation, least preferred dropped. Real MPDs name a few
CDNs, and every location multiplies each segment's URLs (a memory bound for hostile MPDs)."""


@dataclass(frozen=True, slots=True)
class Base:
    """A base URL in the making: attributes not yet stated are ``None``.

    ``availability_time_offset_s`` adds up the ``availabilityTimeOffset``s along the levels.
    """

    url: str
    service_location: str | None = None
    priority: int | None = None
    weight: int | None = None
    availability_time_offset_s: float = 0.0


def child_bases(
    parent: tuple[Base, ...],
    el: ET.Element,
    *,
    url: str,
    cap: int,
    limit: int,
    tree: ElementIndex,
) -> tuple[Base, ...]:
    """Combine the parent's base URLs with the ``BaseURL`` children of ``el``.

    Args:
        parent: The level above's base URLs, preferred first.
        el: The element whose ``BaseURL`` children are read.
        url: Manifest URL, for errors.
        cap: Most combinations made.
        limit: Most combinations kept (``ManifestConfig.max_locations``): the preferred
            ones, as ``to_locations`` would choose them. Keeping no more than that at each
            level keeps the work per Representation bounded.
        tree: The parse's element index (URL resolvers by base).

    Returns:
        The base URLs at this level (the parent's when ``el`` has none).

    Raises:
        ManifestParseError: A base URL is not http(s).
    """
    children = el.findall("BaseURL")
    if not children:
        return parent
    return _preferred(_combine(parent, children, url=url, cap=cap, tree=tree), limit)


def _combine(
    parent: tuple[Base, ...],
    children: list[ET.Element],
    *,
    url: str,
    cap: int,
    tree: ElementIndex,
) -> tuple[Base, ...]:
    out: dict[str, Base] = {}
    for above in parent:
        for child in children:
            resolved = tree.resolve(above.url, (child.text or "").strip(), manifest_url=url)
            if resolved in out:
                continue
            out[resolved] = Base(
                resolved,
                attr_str(child, "serviceLocation") or above.service_location,
                _or(attr_int(child, "priority", url=url), above.priority),
                _or(attr_int(child, "weight", url=url), above.weight),
                above.availability_time_offset_s + attr_offset(child, url=url),
            )
            if len(out) >= cap:
                return tuple(out.values())
    return tuple(out.values())


def _preferred(bases: tuple[Base, ...], limit: int) -> tuple[Base, ...]:
    """The ``limit`` bases ``to_locations`` would keep, in their original order."""
    if len(bases) <= limit:
        return bases
    if all(b.priority is None for b in bases):
        return bases[:limit]
    ranked = sorted(range(len(bases)), key=lambda i: _priority(bases[i]))[:limit]
    return tuple(bases[i] for i in sorted(ranked))


def _priority(base: Base) -> int:
    return _DVB_DEFAULT_PRIORITY if base.priority is None else base.priority


def _or(value: int | None, default: int | None) -> int | None:
    return default if value is None else value


def to_locations(bases: tuple[Base, ...], *, limit: int) -> tuple[Location, ...]:
    """Turn base URLs into ``Location``s, most preferred (lowest priority) first.

    Without any ``dvb:priority`` the manifest order is the priority (0, 1, 2...). At most
    ``limit`` (``ManifestConfig.max_locations``) are kept.
    """
    if all(b.priority is None for b in bases):
        return tuple(
            Location(b.url, service_location=b.service_location, priority=i, weight=b.weight or 1)
            for i, b in enumerate(bases[:limit])
        )
    locations = [
        Location(
            b.url,
            service_location=b.service_location,
            priority=_priority(b),
            weight=1 if b.weight is None else b.weight,
        )
        for b in bases
    ]
    return tuple(sorted(locations, key=lambda loc: loc.priority)[:limit])
