"""Safe XML for TTML: defusedxml, no DTDs or entity expansion, bounded size and depth.

The house pattern of ``player/manifest/_xml.py`` (which the text room may not import):
``DefusedXMLParser`` with ``forbid_dtd``, ``forbid_entities`` and ``forbid_external``, a tree
builder that refuses nesting past a bound, and every parser failure turned into the
room's typed error. Names keep their namespaces (Clark notation, ``{ns}local``): TTML
tells styling (``tts:``) and parameter (``ttp:``) attributes apart by namespace.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import DefusedXMLParser

from player.config import TextConfig
from player.errors import TextParseError

__all__: list[str] = []


class _DepthExceededError(Exception):
    """Raised inside the tree builder; converted to ``TextParseError`` by ``parse_xml``."""


class _BoundedBuilder(ET.TreeBuilder):
    """Tree builder that refuses nesting deeper than a bound."""

    def __init__(self, max_depth: int) -> None:
        super().__init__()
        self._depth = 0
        self._max_depth = max_depth

    def start(self, tag: str, attrs: dict[str, str], /) -> ET.Element:
        self._depth += 1
        if self._depth > self._max_depth:
            raise _DepthExceededError
        return super().start(tag, attrs)

    def end(self, tag: str, /) -> ET.Element:
        self._depth -= 1
        return super().end(tag)


def parse_xml(data: bytes, *, url: str, config: TextConfig) -> ET.Element:
    """Parse an untrusted XML document (a TTML file or sample).

    Args:
        data: The document's bytes.
        url: Where it came from, named in errors.
        config: Size and depth bounds.

    Returns:
        The root element (names in Clark notation).

    Raises:
        TextParseError: Too large, too deep, a DTD, entities or external references, or
            not well-formed XML.
    """
    if len(data) > config.max_text_bytes:
        raise TextParseError(
            f"{url}: text file is {len(data)} bytes, more than the {config.max_text_bytes} allowed",
            url=url,
            detail="text too large",
        )
    parser = DefusedXMLParser(
        target=_BoundedBuilder(config.max_xml_depth),
        forbid_dtd=True,
        forbid_entities=True,
        forbid_external=True,
    )
    try:
        parser.feed(data)
        root: ET.Element = parser.close()
    except _DepthExceededError as exc:
        raise TextParseError(
            f"{url}: XML nests deeper than {config.max_xml_depth} elements",
            url=url,
            detail="xml too deep",
        ) from exc
    except DefusedXmlException as exc:
        raise TextParseError(
            f"{url}: XML uses a DTD, entities or external references, which are refused",
            url=url,
            detail="xml dtd or entities forbidden",
        ) from exc
    except (ET.ParseError, ValueError, LookupError) as exc:
        raise TextParseError(
            f"{url}: not well-formed XML: {str(exc)[:200]}",
            url=url,
            detail="xml syntax",
        ) from exc
    return root


def local(name: str) -> str:
    """The local part of a Clark name (``{ns}p`` -> ``p``).

    >>> local("{http://www.w3.org/ns/ttml}p"), local("begin")
    ('p', 'begin')
    """
    return name[name.index("}") + 1 :] if name[:1] == "{" else name


def namespace(name: str) -> str:
    """The namespace of a Clark name, ``""`` for none.

    >>> namespace("{http://www.w3.org/ns/ttml#styling}color")
    'http://www.w3.org/ns/ttml#styling'
    """
    return name[1 : name.index("}")] if name[:1] == "{" else ""
