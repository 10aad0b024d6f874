"""What the lab edges read of Common Media Client Data: a CMCD parser for their request log.

CTA-5004 section 4 (v1) and CTA-5004-B section 6 (v2) tell a server how to read CMCD: from
the ``CMCD`` query argument or from the ``CMCD-Object``/``-Request``/``-Status``/``-Session``
headers, never both (any CMCD header present means the query argument is ignored), with
the payload a Structured Field dictionary (RFC 8941 section 3.2). This parser is written
from RFC 8941 section 4.2 independently of the player's encoder, so the lab checks the
player rather than repeating it.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import parse_qsl

__all__ = [
    "ReceivedCmcd",
    "SfInnerList",
    "SfItem",
    "SfToken",
    "parse_sf_dictionary",
    "received_cmcd",
]

_CMCD_HEADERS = ("cmcd-object", "cmcd-request", "cmcd-session", "cmcd-status")
_KEY = re.compile(r"[a-z*][a-z0-9_\-.*]*")
_TOKEN = re.compile(r"[A-Za-z*][A-Za-z0-9!#$%&'*+\-.^_`|~:/]*")
_INTEGER = re.compile(r"-?[0-9]{1,15}")
_DECIMAL = re.compile(r"-?[0-9]{1,12}\.[0-9]{1,3}")
_NUMBER = re.compile(r"-?[0-9][0-9.]*")
_BYTES = re.compile(r":([A-Za-z0-9+/=]*):")


class SfToken(str):
    """A Structured Field Token (a ``str``: ``SfToken("v") == "v"``), told apart from a String."""

    __slots__ = ()

    def __repr__(self) -> str:
        return f"SfToken({str(self)!r})"


BareItem = int | float | str | bool | bytes
"""An RFC 8941 bare item: Integer, Decimal, String or ``SfToken``, Boolean, Byte Sequence."""


@dataclass(frozen=True, slots=True)
class SfItem:
    """One item with its parameters (``3000;v`` is ``SfItem(3000, {"v": True})``)."""

    value: BareItem
    """The bare item."""

    params: dict[str, BareItem] = field(default_factory=dict)
    """Parameters in order."""


@dataclass(frozen=True, slots=True)
class SfInnerList:
    """An inner list (``(3000;v 320;a)``) with its parameters."""

    items: tuple[SfItem, ...]
    """The items in order."""

    params: dict[str, BareItem] = field(default_factory=dict)
    """Parameters of the list itself."""


class _Syntax(Exception):
    """The text is not a Structured Field dictionary (private to the parser)."""


class _Reader:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def skip(self, chars: str) -> None:
        while self.peek() and self.peek() in chars:
            self.pos += 1

    def match(self, pattern: re.Pattern[str]) -> str:
        found = pattern.match(self.text, self.pos)
        if found is None:
            raise _Syntax(f"unexpected {self.text[self.pos : self.pos + 8]!r} at {self.pos}")
        self.pos = found.end()
        return found.group(0)

    def expect(self, char: str) -> None:
        if self.peek() != char:
            raise _Syntax(f"expected {char!r} at {self.pos}")
        self.pos += 1


def _bare_item(reader: _Reader) -> BareItem:
    char = reader.peek()
    if char == "-" or char.isdigit():
        text = reader.match(_NUMBER)
        if _INTEGER.fullmatch(text):
            return int(text)
        if _DECIMAL.fullmatch(text):
            return float(text)
        raise _Syntax(f"bad number {text!r}")
    if char == '"':
        return _string(reader)
    if char == "?":
        reader.pos += 1
        value = reader.peek()
        if value not in ("0", "1"):
            raise _Syntax(f"bad boolean at {reader.pos}")
        reader.pos += 1
        return value == "1"
    if char == ":":
        return base64.b64decode(reader.match(_BYTES)[1:-1], validate=True)
    if char.isalpha() or char == "*":
        return SfToken(reader.match(_TOKEN))
    raise _Syntax(f"no item at {reader.pos}")


def _string(reader: _Reader) -> str:
    reader.expect('"')
    out: list[str] = []
    while True:
        char = reader.peek()
        if not char:
            raise _Syntax("unterminated string")
        reader.pos += 1
        if char == "\\":
            escaped = reader.peek()
            if escaped not in ('"', "\\"):
                raise _Syntax(f"bad escape at {reader.pos}")
            out.append(escaped)
            reader.pos += 1
        elif char == '"':
            return "".join(out)
        elif not " " <= char <= "~":
            raise _Syntax(f"character {char!r} in a string")
        else:
            out.append(char)


def _params(reader: _Reader) -> dict[str, BareItem]:
    params: dict[str, BareItem] = {}
    while reader.peek() == ";":
        reader.pos += 1
        reader.skip(" ")
        key = reader.match(_KEY)
        value: BareItem = True
        if reader.peek() == "=":
            reader.pos += 1
            value = _bare_item(reader)
        params[key] = value
    return params


def _item_or_list(reader: _Reader) -> SfItem | SfInnerList:
    if reader.peek() != "(":
        value = _bare_item(reader)
        return SfItem(value, _params(reader))
    reader.pos += 1
    items: list[SfItem] = []
    while True:
        reader.skip(" ")
        if reader.peek() == ")":
            reader.pos += 1
            return SfInnerList(tuple(items), _params(reader))
        value = _bare_item(reader)
        items.append(SfItem(value, _params(reader)))
        if reader.peek() not in (" ", ")"):
            raise _Syntax(f"expected ' ' or ')' at {reader.pos}")


def parse_sf_dictionary(text: str) -> dict[str, SfItem | SfInnerList]:
    """Parse a Structured Field dictionary (RFC 8941 section 4.2.2).

    Args:
        text: E.g. ``bl=(2000),br=(3000;v),cid="c",su``.

    Returns:
        Key to member in order; a bare key is ``SfItem(True)``. A repeated key keeps its
        last value.

    Raises:
        ValueError: ``text`` is not a dictionary (the whole field is then unusable).

    >>> fields = parse_sf_dictionary('br=(3000;v),ot=v,su')
    >>> fields["br"].items[0], fields["ot"].value, fields["su"].value
    (SfItem(value=3000, params={'v': True}), SfToken('v'), True)
    """
    reader = _Reader(text.strip(" \t"))
    out: dict[str, SfItem | SfInnerList] = {}
    try:
        while reader.peek():
            key = reader.match(_KEY)
            if reader.peek() == "=":
                reader.pos += 1
                out[key] = _item_or_list(reader)
            else:
                out[key] = SfItem(True, _params(reader))
            reader.skip(" \t")
            if not reader.peek():
                break
            reader.expect(",")
            reader.skip(" \t")
            if not reader.peek():
                raise _Syntax("trailing comma")
    except _Syntax as exc:
        raise ValueError(f"not a Structured Field dictionary: {exc}") from None
    return out


def _json_value(value: BareItem) -> Any:
    if isinstance(value, bytes):
        return {"bytes": base64.b64encode(value).decode()}
    return str(value) if isinstance(value, SfToken) else value


def _json_item(item: SfItem) -> Any:
    value = _json_value(item.value)
    if not item.params:
        return value
    return {"value": value, "params": {k: _json_value(v) for k, v in item.params.items()}}


@dataclass(frozen=True, kw_only=True, slots=True)
class ReceivedCmcd:
    """The CMCD one request carried, as a lab edge read it.

    Attributes:
        source: ``"query"`` (the ``CMCD`` argument) or ``"header"`` (the ``CMCD-*`` headers).
        fields: Key to parsed member, in the order received.
        header_of: Header name each key arrived in (header mode; empty for the query).
        raw: The payload as received: the decoded query argument, or ``Name: value``
            lines of the CMCD headers.
        error: Why the payload could not be parsed (``fields`` then holds what the
            well-formed headers said), or ``None``.
    """

    source: Literal["query", "header"]
    fields: dict[str, SfItem | SfInnerList]
    header_of: dict[str, str] = field(default_factory=dict)
    raw: str = ""
    error: str | None = None

    @property
    def version(self) -> int:
        """The ``v`` key, 1 when absent (CTA-5004-B Table 1, ``v``)."""
        member = self.fields.get("v")
        return member.value if isinstance(member, SfItem) and type(member.value) is int else 1

    def value(self, key: str) -> BareItem | tuple[SfItem, ...] | None:
        """An item's bare value, an inner list's items, or ``None`` when the key is absent."""
        member = self.fields.get(key)
        if member is None:
            return None
        return member.items if isinstance(member, SfInnerList) else member.value

    def to_json(self) -> dict[str, Any]:
        """JSON-ready form (tokens as strings, items with parameters as objects)."""
        keys: dict[str, Any] = {}
        for key, member in self.fields.items():
            if isinstance(member, SfInnerList):
                keys[key] = [_json_item(item) for item in member.items]
            else:
                keys[key] = _json_item(member)
        out: dict[str, Any] = {"source": self.source, "keys": keys}
        if self.header_of:
            out["header_of"] = dict(self.header_of)
        if self.error is not None:
            out["error"] = self.error
        return out


def received_cmcd(query: str, headers: list[tuple[str, str]]) -> ReceivedCmcd | None:
    """Read a request's CMCD the way CTA-5004-B section 6 asks a server to.

    Args:
        query: The request's query string (without ``?``).
        headers: Its headers, ``(name, value)``; names in any case.

    Returns:
        What it carried: the headers when any ``CMCD-*`` header is present (the query
        argument is then ignored, section 6 item 8), else the ``CMCD`` argument; ``None``
        when neither is present.
    """
    found = [(n.lower(), v) for n, v in headers if n.lower() in _CMCD_HEADERS]
    if found:
        fields: dict[str, SfItem | SfInnerList] = {}
        header_of: dict[str, str] = {}
        errors: list[str] = []
        for name, value in found:
            try:
                parsed = parse_sf_dictionary(value)
            except ValueError as exc:
                errors.append(f"{name}: {exc}")
                continue
            fields.update(parsed)
            header_of.update(dict.fromkeys(parsed, name))
        raw = "\n".join(f"{n}: {v}" for n, v in found)
        return ReceivedCmcd(
            source="header",
            fields=fields,
            header_of=header_of,
            raw=raw,
            error="; ".join(errors) or None,
        )
    args = [v for k, v in parse_qsl(query, keep_blank_values=True) if k == "CMCD"]
    if not args:
        return None
    try:
        return ReceivedCmcd(source="query", fields=parse_sf_dictionary(args[-1]), raw=args[-1])
    except ValueError as exc:
        return ReceivedCmcd(source="query", fields={}, raw=args[-1], error=str(exc))
