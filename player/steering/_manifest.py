"""The steering manifest: the JSON a content steering server answers (sans-I/O).

One format serves HLS and DASH (draft-pantos-content-steering section 4; RFC 8216bis
section 7.1; ETSI TS 103 998 clause 7 / DASH-IF Content Steering): ``VERSION`` (1), ``TTL``
(seconds until the next request), ``RELOAD-URI`` (where to ask next, relative to the
manifest's URL), ``PATHWAY-PRIORITY`` (pathway ids, most preferred first; older DASH-IF
drafts call it ``SERVICE-LOCATION-PRIORITY``) and ``PATHWAY-CLONES`` (new pathways made from
existing ones by URI replacement, section 5 of the base draft).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin, urlsplit

from player.errors import SteeringError, redact_url

__all__ = ["PathwayClone", "SteeringManifest", "UriReplacement", "is_pathway_id"]

_PATHWAY_ID = re.compile(r"[A-Za-z0-9._-]+")
"""Legal pathway id characters (base draft section 2; RFC 8216bis section 7.1)."""
_HOST = re.compile(r"[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\]")
"""A hostname without a port (IPv6 in brackets), as ``URI-REPLACEMENT`` ``HOST`` allows."""


def is_pathway_id(text: str) -> bool:
    """Whether ``text`` is a legal pathway id (letters, digits, ``.``, ``-``, ``_``).

    >>> is_pathway_id("CDN-A"), is_pathway_id("."), is_pathway_id("a b")
    (True, True, False)
    """
    return _PATHWAY_ID.fullmatch(text) is not None


@dataclass(frozen=True, kw_only=True, slots=True)
class UriReplacement:
    """How a clone's URIs are made from its base pathway's (``URI-REPLACEMENT``).

    Attributes:
        host: ``HOST``: replaces the hostname (the port is kept), if given.
        params: ``PARAMS``: query parameters set on each URI (replacing ones of the same
            name), ``(name, value)`` in the order they are applied (code point order).
        per_variant_uris: HLS ``PER-VARIANT-URIS``: ``STABLE-VARIANT-ID`` -> URI.
        per_rendition_uris: HLS ``PER-RENDITION-URIS``: ``STABLE-RENDITION-ID`` -> URI.
    """

    host: str | None = None
    params: tuple[tuple[str, str], ...] = ()
    per_variant_uris: dict[str, str] = field(default_factory=dict)
    per_rendition_uris: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True, slots=True)
class PathwayClone:
    """One ``PATHWAY-CLONES`` entry.

    Attributes:
        base_id: ``BASE-ID``: the pathway (or earlier clone) copied.
        id: ``ID``: the new pathway's id.
        replacement: Its ``URI-REPLACEMENT``.
    """

    base_id: str
    id: str
    replacement: UriReplacement


@dataclass(frozen=True, kw_only=True, slots=True)
class SteeringManifest:
    """A parsed steering manifest.

    Attributes:
        version: ``VERSION`` (always 1 once parsed).
        ttl_s: ``TTL``: seconds until the client asks again.
        reload_url: ``RELOAD-URI`` resolved against the manifest's URL, if given.
        priority: ``PATHWAY-PRIORITY``, most preferred first, duplicates dropped.
        clones: ``PATHWAY-CLONES`` that are well formed, in order (a malformed clone is
            ignored, not the whole manifest).
    """

    version: int
    ttl_s: float
    reload_url: str | None
    priority: tuple[str, ...]
    clones: tuple[PathwayClone, ...] = ()

    @classmethod
    def parse(cls, data: bytes, *, url: str, max_bytes: int) -> SteeringManifest:
        """Parse a steering manifest.

        Args:
            data: The response body.
            url: The URL it came from (after redirects): ``RELOAD-URI`` resolves against it.
            max_bytes: Largest body accepted.

        Returns:
            The manifest.

        Raises:
            SteeringError: Too large, not a JSON object, ``VERSION`` other than 1, ``TTL``
                missing or not a positive number, ``PATHWAY-PRIORITY`` missing or with no
                legal pathway id, or a ``RELOAD-URI`` that is not http(s).

        >>> m = SteeringManifest.parse(
        ...     b'{"VERSION": 1, "TTL": 300, "RELOAD-URI": "next?s=1",'
        ...     b' "PATHWAY-PRIORITY": ["CDN-A", "CDN-B"]}',
        ...     url="https://steer.example.com/v1/m", max_bytes=65536)
        >>> m.ttl_s, m.reload_url, m.priority
        (300.0, 'https://steer.example.com/v1/next?s=1', ('CDN-A', 'CDN-B'))
        """
        if len(data) > max_bytes:
            raise SteeringError(f"{url}: steering manifest over {max_bytes} bytes", url=url)
        try:
            raw = json.loads(data)
        except (ValueError, UnicodeDecodeError, RecursionError) as exc:
            raise SteeringError(f"{url}: steering manifest is not JSON: {exc}", url=url) from exc
        if not isinstance(raw, dict):
            raise SteeringError(f"{url}: steering manifest is not a JSON object", url=url)
        version = raw.get("VERSION")
        if version != 1 or isinstance(version, bool):
            raise SteeringError(f"{url}: steering manifest VERSION {version!r} is not 1", url=url)
        return cls(
            version=1,
            ttl_s=_ttl(raw.get("TTL"), url),
            reload_url=_reload_url(raw.get("RELOAD-URI"), url),
            priority=_priority(raw, url),
            clones=_clones(raw.get("PATHWAY-CLONES")),
        )


def _ttl(value: Any, url: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise SteeringError(f"{url}: steering manifest TTL {value!r} is not a number", url=url)
    if not math.isfinite(value) or value <= 0:
        raise SteeringError(f"{url}: steering manifest TTL {value!r} is not positive", url=url)
    return float(value)


def _reload_url(value: Any, url: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise SteeringError(f"{url}: RELOAD-URI {redact_url(str(value))} is not a URI", url=url)
    resolved = urljoin(url, value.strip())
    if urlsplit(resolved).scheme not in ("http", "https"):
        raise SteeringError(f"{url}: RELOAD-URI {redact_url(value)} is not http(s)", url=url)
    return resolved


def _priority(raw: dict[str, Any], url: str) -> tuple[str, ...]:
    listed = raw.get("PATHWAY-PRIORITY", raw.get("SERVICE-LOCATION-PRIORITY"))
    if not isinstance(listed, list):
        raise SteeringError(f"{url}: steering manifest has no PATHWAY-PRIORITY list", url=url)
    seen: list[str] = []
    for item in listed:
        if isinstance(item, str) and is_pathway_id(item) and item not in seen:
            seen.append(item)
    if not seen:
        raise SteeringError(f"{url}: PATHWAY-PRIORITY names no legal pathway id", url=url)
    return tuple(seen)


def _clones(value: Any) -> tuple[PathwayClone, ...]:
    if not isinstance(value, list):
        return ()
    clones: list[PathwayClone] = []
    for item in value:
        clone = _clone(item)
        if clone is not None and all(c.id != clone.id for c in clones):
            clones.append(clone)
    return tuple(clones)


def _clone(item: Any) -> PathwayClone | None:
    """One clone, or ``None`` when it is malformed (it is then ignored)."""
    if not isinstance(item, dict):
        return None
    base, ident, raw = item.get("BASE-ID"), item.get("ID"), item.get("URI-REPLACEMENT")
    if not (isinstance(base, str) and isinstance(ident, str) and isinstance(raw, dict)):
        return None
    if not is_pathway_id(ident) or not is_pathway_id(base) or base == ident:
        return None
    host = raw.get("HOST")
    if host is not None and not (isinstance(host, str) and _HOST.fullmatch(host)):
        return None
    params = raw.get("PARAMS") or {}
    if not isinstance(params, dict) or not all(
        isinstance(k, str) and k and isinstance(v, str) for k, v in params.items()
    ):
        return None
    per_variant = _uri_map(raw.get("PER-VARIANT-URIS"))
    per_rendition = _uri_map(raw.get("PER-RENDITION-URIS"))
    if per_variant is None or per_rendition is None:
        return None
    replacement = UriReplacement(
        host=host.lower() if isinstance(host, str) else None,
        params=tuple(sorted(params.items())),
        per_variant_uris=per_variant,
        per_rendition_uris=per_rendition,
    )
    return PathwayClone(base_id=base, id=ident, replacement=replacement)


def _uri_map(value: Any) -> dict[str, str] | None:
    if value is None:
        return {}
    if not isinstance(value, dict):
        return None
    out: dict[str, str] = {}
    for key, uri in value.items():
        if not isinstance(key, str) or not isinstance(uri, str):
            return None
        if urlsplit(uri).scheme not in ("http", "https"):
            return None
        out[key] = uri
    return out
