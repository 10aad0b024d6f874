"""HLS variables: ``EXT-X-DEFINE`` and variable substitution (RFC 8216bis 4.3, 4.4.2.3).

A playlist defines variables with ``EXT-X-DEFINE``: ``NAME``/``VALUE``, ``QUERYPARAM`` (the
value of that query parameter of the playlist's own URL) or, in a media playlist only,
``IMPORT`` (a variable of the multivariant playlist, which the caller passes in). A reference
``{$name}`` is replaced by the value in URI lines, quoted-string attribute values and
hexadecimal-sequence attribute values that follow the definition; values are not scanned again
for references, so definitions cannot nest. Substitution is done on the playlist text before
it is parsed, so every tag sees the substituted values.

Failures are ``ManifestParseError``: a reference to a variable not defined before it, a name
defined twice, a malformed definition, an ``IMPORT`` the multivariant playlist does not define
(or in a multivariant playlist), a ``QUERYPARAM`` the URL lacks, and a playlist that
substitution would make larger than ``max_manifest_bytes``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from urllib.parse import unquote, urlsplit

from player.config import ManifestConfig
from player.errors import ManifestParseError

__all__: list[str] = []

_DEFINE = "#EXT-X-DEFINE:"
_NAME = re.compile(r"[A-Za-z0-9_-]+")
_REFERENCE = re.compile(r"\{\$([A-Za-z0-9_-]+)\}")
_ATTRIBUTE = re.compile(r'\s*([A-Za-z0-9_-]+)\s*=\s*("[^"]*"|[^,]*)\s*(?:,|$)')
_QUOTED = re.compile(r'"[^"]*"')
_HEX_VALUE = re.compile(r"(?<==)\s*0[xX][0-9A-Fa-f{}$A-Za-z_-]*")
_FORBIDDEN = ('"', "\r", "\n")
"""Characters a value may not hold: a quoted-string cannot, and a URI line ends at a newline."""


class _Substitution:
    """The variables defined so far and the growth substitution may still add."""

    def __init__(self, url: str, *, room: int) -> None:
        self.url = url
        self.values: dict[str, str] = {}
        self.room = room
        self.lineno = 0

    def fail(self, why: str, detail: str) -> ManifestParseError:
        return ManifestParseError(
            f"{self.url}: line {self.lineno}: {why}", url=self.url, detail=detail
        )

    def define(self, name: str, value: str) -> None:
        if not _NAME.fullmatch(name):
            raise self.fail(f"EXT-X-DEFINE variable name {name[:40]!r} is invalid", "bad define")
        if name in self.values:
            raise self.fail(f"variable {name!r} is defined twice", "duplicate variable")
        if any(c in value for c in _FORBIDDEN):
            raise self.fail(f"value of variable {name!r} holds a quote or line break", "bad define")
        self.values[name] = value

    def replace(self, text: str) -> str:
        """``text`` with every ``{$name}`` replaced by its value."""
        return _REFERENCE.sub(self._value_of, text)

    def _value_of(self, match: re.Match[str]) -> str:
        name = match.group(1)
        value = self.values.get(name)
        if value is None:
            raise self.fail(
                f"variable {name!r} is used but not defined before (EXT-X-DEFINE)",
                "undefined variable",
            )
        self.room -= len(value) - len(match.group(0))
        if self.room < 0:
            raise self.fail(
                "variable substitution makes the playlist larger than max_manifest_bytes",
                "substitution too large",
            )
        return value


def substitute_variables(
    text: str, *, url: str, imports: Mapping[str, str] | None, config: ManifestConfig
) -> tuple[str, dict[str, str]]:
    """Apply a playlist's ``EXT-X-DEFINE`` tags to its text.

    Args:
        text: The decoded playlist.
        url: The playlist's URL (its query gives ``QUERYPARAM`` values; named in errors).
        imports: The multivariant playlist's variables, for ``IMPORT`` in a media playlist;
            ``None`` when there are none (a multivariant playlist, or a media playlist alone).
        config: ``max_manifest_bytes`` bounds the substituted text.

    Returns:
        The text with the definitions blanked and references replaced, and the variables.

    Raises:
        ManifestParseError: See the module docstring.
    """
    if _DEFINE not in text and "{$" not in text:
        return text, {}
    state = _Substitution(url, room=config.max_manifest_bytes - len(text))
    lines = text.split("\n")
    for index, line in enumerate(lines):
        state.lineno = index + 1
        stripped = line.strip()
        if stripped.startswith(_DEFINE):
            _define(stripped[len(_DEFINE) :], state, url=url, imports=imports)
            lines[index] = ""
        elif stripped and not stripped.startswith("#"):
            lines[index] = state.replace(line)
        elif stripped.startswith("#EXT") and "{$" in line:
            lines[index] = _replace_in_attributes(line, state)
    return "\n".join(lines), state.values


def _define(
    attributes: str, state: _Substitution, *, url: str, imports: Mapping[str, str] | None
) -> None:
    found: dict[str, str] = {}
    for match in _ATTRIBUTE.finditer(attributes):
        raw = match.group(2).strip()
        if len(raw) < 2 or raw[0] != '"' or raw[-1] != '"':
            raise state.fail(f"EXT-X-DEFINE {match.group(1)} must be a quoted string", "bad define")
        found[match.group(1).upper()] = raw[1:-1]
    kinds = [k for k in ("NAME", "IMPORT", "QUERYPARAM") if k in found]
    if len(kinds) != 1 or (kinds == ["NAME"]) != ("VALUE" in found):
        raise state.fail(
            "EXT-X-DEFINE needs exactly one of NAME (with VALUE), IMPORT and QUERYPARAM",
            "bad define",
        )
    name = found[kinds[0]]
    if kinds[0] == "NAME":
        state.define(name, found["VALUE"])
    elif kinds[0] == "IMPORT":
        if imports is None or name not in imports:
            raise state.fail(
                f"EXT-X-DEFINE IMPORT {name[:40]!r}: the multivariant playlist does not define it",
                "undefined variable",
            )
        state.define(name, imports[name])
    else:
        value = _query_parameter(url, name)
        if value is None:
            raise state.fail(
                f"EXT-X-DEFINE QUERYPARAM {name[:40]!r}: the playlist URL has no such parameter",
                "undefined variable",
            )
        state.define(name, value)


def _query_parameter(url: str, name: str) -> str | None:
    """The percent-decoded value of the first ``name`` parameter of the URL's query."""
    for pair in urlsplit(url).query.split("&"):
        key, _, value = pair.partition("=")
        if unquote(key) == name:
            return unquote(value)
    return None


def _replace_in_attributes(line: str, state: _Substitution) -> str:
    """Substitute inside quoted strings and ``0x`` hexadecimal values only."""
    pieces: list[str] = []
    pos = 0
    for match in _QUOTED.finditer(line):
        pieces.append(
            _HEX_VALUE.sub(lambda m: state.replace(m.group(0)), line[pos : match.start()])
        )
        pieces.append(state.replace(match.group(0)))
        pos = match.end()
    pieces.append(_HEX_VALUE.sub(lambda m: state.replace(m.group(0)), line[pos:]))
    return "".join(pieces)
