"""Safe XML parsing for manifests: defusedxml, bounded size and depth, tolerant prefixes.

The tree handed back uses *local* names for elements and attributes (``cenc:pssh`` becomes
``pssh``, ``{urn:mpeg:cenc:2013}default_KID`` becomes ``default_KID``): DASH element names do
not collide across the namespaces real MPDs use, and players match them the same way.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import DefusedXMLParser

from player.config import ManifestConfig
from player.errors import ManifestParseError

__all__: list[str] = []

_TAG_PREFIX = re.compile(rb"<\s*([A-Za-z_][\w.\-]*):[A-Za-z_]")
_ATTR_PREFIX = re.compile(rb"[\s\"']([A-Za-z_][\w.\-]*):[A-Za-z_][\w.\-]*\s*=")
_DECLARED = re.compile(rb"xmlns:([A-Za-z_][\w.\-]*)\s*=")
_RESERVED_PREFIXES = frozenset({b"xml", b"xmlns"})
_ROOT_NAME = re.compile(rb"<[^\s/>]+")


class _DepthExceededError(Exception):
    """Raised inside the tree builder; converted to ``ManifestParseError`` by ``parse_xml``."""


class _LocalNameBuilder(ET.TreeBuilder):
    """Tree builder that strips namespaces and refuses nesting deeper than a bound."""

    def __init__(self, max_depth: int) -> None:
        super().__init__()
        self._depth = 0
        self._max_depth = max_depth
        self._names: dict[str, str] = {}

    def start(self, tag: str, attrs: dict[str, str], /) -> ET.Element:
        self._depth += 1
        if self._depth > self._max_depth:
            raise _DepthExceededError
        local = attrs
        if any(key[0] == "{" for key in attrs):
            local = {}
            for key, value in attrs.items():
                if key[0] == "{":
                    local.setdefault(key[key.index("}") + 1 :], value)
                else:
                    local[key] = value
        return super().start(self._name(tag), local)

    def end(self, tag: str, /) -> ET.Element:
        self._depth -= 1
        return super().end(self._name(tag))

    def _name(self, tag: str) -> str:
        """Local name of ``tag``, remembered (a document repeats a few names many times)."""
        name = self._names.get(tag)
        if name is None:
            name = self._names[tag] = _local(tag)
        return name


def _local(name: str) -> str:
    return name[name.index("}") + 1 :] if name[:1] == "{" else name


def parse_xml(data: bytes, *, url: str, config: ManifestConfig) -> ET.Element:
    """Parse untrusted XML into an element tree with local names.

    DTDs, entity declarations and external references are refused (``defusedxml``), the
    document must fit ``config.max_manifest_bytes`` and nest at most ``config.max_xml_depth``
    elements. Prefixes used without a declaration (``dashif:Laurl``, ``mspr:pro``...) are
    declared on the root element and the document is parsed again, as browsers' players do.

    Args:
        data: The document's bytes.
        url: The manifest's URL, named in errors.
        config: Size and depth bounds.

    Returns:
        The root element.

    Raises:
        ManifestParseError: The document is too large, too deep, uses DTDs or entities,
            or is not well-formed XML.
    """
    if len(data) > config.max_manifest_bytes:
        raise ManifestParseError(
            f"{url}: manifest is {len(data)} bytes, more than the "
            f"{config.max_manifest_bytes} allowed",
            url=url,
            detail="manifest too large",
        )
    try:
        return _parse_once(data, url=url, config=config)
    except ManifestParseError as exc:
        if "unbound prefix" not in exc.detail:
            raise
        fixed = _declare_missing_prefixes(data)
        if fixed is None:
            raise
        return _parse_once(fixed, url=url, config=config)


def _parse_once(data: bytes, *, url: str, config: ManifestConfig) -> ET.Element:
    parser = DefusedXMLParser(
        target=_LocalNameBuilder(config.max_xml_depth),
        forbid_dtd=True,
        forbid_entities=True,
        forbid_external=True,
    )
    try:
        parser.feed(data)
        root: ET.Element = parser.close()
    except _DepthExceededError as exc:
        raise ManifestParseError(
            f"{url}: XML nests deeper than {config.max_xml_depth} elements",
            url=url,
            detail="xml too deep",
        ) from exc
    except DefusedXmlException as exc:
        raise ManifestParseError(
            f"{url}: XML uses a DTD, entities or external references, which are refused",
            url=url,
            detail="xml dtd or entities forbidden",
        ) from exc
    except (ET.ParseError, ValueError, LookupError) as exc:
        raise ManifestParseError(
            f"{url}: not well-formed XML: {str(exc)[:200]}",
            url=url,
            detail=f"xml syntax: {str(exc)[:200]}",
        ) from exc
    return root


def _declare_missing_prefixes(data: bytes) -> bytes | None:
    """Return ``data`` with placeholder declarations for undeclared prefixes, or ``None``."""
    used = set(_TAG_PREFIX.findall(data)) | set(_ATTR_PREFIX.findall(data))
    missing = sorted(used - set(_DECLARED.findall(data)) - _RESERVED_PREFIXES)
    insert_at = _root_name_end(data)
    if not missing or insert_at is None:
        return None
    decls = b"".join(b' xmlns:%s="urn:undeclared:%s"' % (p, p) for p in missing)
    return data[:insert_at] + decls + data[insert_at:]


def _root_name_end(data: bytes) -> int | None:
    """Offset just after the root element's name, skipping the prolog; ``None`` if absent."""
    pos = 0
    while True:
        pos = data.find(b"<", pos)
        if pos < 0:
            return None
        if data.startswith(b"<!--", pos):
            close, skip = data.find(b"-->", pos), 3
        elif data.startswith((b"<?", b"<!"), pos):
            close, skip = data.find(b">", pos), 1
        else:
            match = _ROOT_NAME.match(data, pos)
            return match.end() if match else None
        if close < 0:
            return None
        pos = close + skip
