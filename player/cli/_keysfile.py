"""The QA keys file: content keys of content made by ``content make`` or the demo, or by hand.

A JSON object whose ``keys`` member maps each KID (32 hex digits) to its key (32 hex
digits), and whose optional ``hls_keys`` member maps HLS identity key URIs (AES-128,
SAMPLE-AES) to their keys (32 hex digits, 64 for AES-256): the URI as the playlist names it
(a relative one is taken against the manifest played), or ``"*"`` for every identity key.
Other members describe the content and are ignored when reading::

    {"keys": {"0123...cdef": "4567...89ab"}, "scheme": "cenc", "content": "manifest.mpd"}
    {"hls_keys": {"keys/k1.bin": "4567...89ab", "*": "89ab...4567"}}

``play --keys-file`` reads both members (``--keys`` and ``--hls-key`` are the same on the
command line); ``license serve --keys-file`` reads ``keys``. Errors name the file and, at
most, a KID or an entry's number: a key, or a key URI (a ``data:`` URI holds key material,
a query may hold a token), never appears in a message.
"""

from __future__ import annotations

import argparse
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

from player.cli._args import BadInput

__all__: list[str] = []

KEYS_FILE_NAME = "keys.json"
_HEX32 = re.compile(r"^[0-9a-f]{32}$")
_HEX_KEY = re.compile(r"^(?:[0-9a-f]{32}|[0-9a-f]{64})$")
_HLS_KEY_ARG = re.compile(r"^(.+):([0-9a-fA-F]{32}|[0-9a-fA-F]{64})$")
EVERY_IDENTITY_KEY = "*"
"""The key URI that stands for every HLS identity key (``DrmConfig.hls_keys``)."""


@dataclass(frozen=True)
class KeySets:
    """What a keys file holds.

    Attributes:
        keys: KID hex -> key hex (ClearKey / CENC content keys).
        hls_keys: HLS key URI as written (relative ones not yet resolved) or ``"*"`` ->
            key hex.
    """

    keys: dict[str, str] = field(default_factory=dict)
    hls_keys: dict[str, str] = field(default_factory=dict)


def write_keys_file(path: Path, keys: dict[str, str], **about: Any) -> None:
    """Write ``keys`` (KID hex -> key hex) and a description, readable by the owner only."""
    document = {"keys": keys, **about}
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(document, handle, indent=2)
        handle.write("\n")


def read_keys_file(path: Path) -> dict[str, str]:
    """Read the ``keys`` member of a keys file: KID hex -> key hex, both lowercase.

    Raises:
        BadInput: The file is not JSON, has no ``keys`` object, or an entry is malformed
            (the message names the file and never the key).
    """
    keys = read_key_sets(path).keys
    if not keys:
        raise BadInput(f"keys file {path} has no 'keys' object of KID: key pairs")
    return keys


def read_key_sets(path: Path) -> KeySets:
    """Read a keys file's ``keys`` and ``hls_keys`` members (at least one of them).

    Raises:
        BadInput: The file is not JSON, has neither member, or an entry is malformed (the
            message names the file and the KID or entry number, never a key or key URI).
    """
    try:
        document = json.loads(path.read_bytes())
    except OSError as exc:
        raise BadInput(f"cannot read keys file {path}: {exc.strerror or exc}") from exc
    except (ValueError, UnicodeDecodeError):
        raise BadInput(f"keys file {path} is not JSON") from None
    if not isinstance(document, dict):
        raise BadInput(f"keys file {path} is not a JSON object")
    keys, hls_keys = document.get("keys"), document.get("hls_keys")
    if not keys and not hls_keys:
        raise BadInput(
            f"keys file {path} has no 'keys' object of KID: key pairs "
            "(nor an 'hls_keys' object of key URI: key pairs)"
        )
    return KeySets(_content_keys(path, keys or {}), _hls_keys(path, hls_keys or {}))


def _content_keys(path: Path, keys: object) -> dict[str, str]:
    if not isinstance(keys, dict):
        raise BadInput(f"keys file {path}: 'keys' is not an object of KID: key pairs")
    out: dict[str, str] = {}
    for index, (kid, key) in enumerate(keys.items(), start=1):
        kid_hex = str(kid).replace("-", "").lower()
        if not _HEX32.match(kid_hex):
            raise BadInput(f"keys file {path}: entry {index} has a KID that is not 32 hex digits")
        if not isinstance(key, str) or not _HEX32.match(key.lower()):
            raise BadInput(f"keys file {path}: the key for KID {kid_hex} is not 32 hex digits")
        out[kid_hex] = key.lower()
    return out


def _hls_keys(path: Path, keys: object) -> dict[str, str]:
    if not isinstance(keys, dict):
        raise BadInput(f"keys file {path}: 'hls_keys' is not an object of key URI: key pairs")
    out: dict[str, str] = {}
    for index, (uri, key) in enumerate(keys.items(), start=1):
        where = f"keys file {path}: hls_keys entry {index}"
        if not isinstance(key, str) or not _HEX_KEY.match(key.lower()):
            raise BadInput(f"{where}: the key is not 32 or 64 hex digits")
        out[check_key_uri(str(uri).strip(), where=where)] = key.lower()
    return out


def hls_key_arg(text: str) -> tuple[str, str]:
    """Parse an ``URI:KEY`` value (an argparse type).

    The key is the 32 or 64 hex digits after the last colon; the URI is what the playlist
    names (relative, http(s), ``data:``) or ``*``.

    Returns:
        ``(key URI as written, key hex in lowercase)``.

    Raises:
        argparse.ArgumentTypeError: Malformed (the message never shows the value).
    """
    match = _HLS_KEY_ARG.match(text.strip())
    if not match or not match.group(1).strip():
        raise argparse.ArgumentTypeError(
            "not URI:KEY (the key URI the playlist names, or '*' for every identity key, "
            "then 32 or 64 hex digits; the value is not shown: it may hold a key)"
        )
    try:
        uri = check_key_uri(match.group(1).strip(), where="the key URI")
    except BadInput as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return uri, match.group(2).lower()


def check_key_uri(uri: str, *, where: str) -> str:
    """Return ``uri`` if it can name an HLS identity key: ``*``, ``data:``, http(s), relative.

    Raises:
        BadInput: Another scheme (the message names ``where``, never the URI).
    """
    if uri == EVERY_IDENTITY_KEY or uri[:5].lower() == "data:":
        return uri
    try:
        scheme = urlsplit(uri).scheme.lower()
    except ValueError:
        scheme = "?"
    if scheme and scheme not in ("http", "https"):
        raise BadInput(
            f"{where}: the key URI must be http(s), a data: URI, relative to the manifest, or '*'"
        )
    return uri


HLS_KEY_HELP = (
    "an HLS key (AES-128, SAMPLE-AES) for the key URI the playlist names (a relative URI is "
    "taken against the manifest), or '*:KEY' for every identity key; the key is the 32 hex "
    "digits (64 for AES-256) after the last colon; repeatable"
)


def add_hls_key_argument(group: argparse._ArgumentGroup) -> None:
    """Add ``--hls-key URI:KEY`` (repeatable) to a command's DRM options."""
    group.add_argument(
        "--hls-key",
        action="append",
        default=[],
        type=hls_key_arg,
        metavar="URI:KEY",
        help=HLS_KEY_HELP,
    )


def key_sets_from_args(
    keys: dict[str, str],
    hls_keys: list[tuple[str, str]],
    keys_file: Path | None,
    *,
    manifest_url: str,
) -> KeySets:
    """Merge ``--keys``/``--hls-key`` over a keys file's members (the command line wins).

    Relative HLS key URIs are resolved against ``manifest_url``.
    """
    stored = read_key_sets(keys_file) if keys_file is not None else KeySets()
    merged = {**stored.hls_keys, **dict(hls_keys)}
    return KeySets({**stored.keys, **keys}, resolve_hls_keys(merged, manifest_url=manifest_url))


def resolve_hls_keys(keys: dict[str, str], *, manifest_url: str) -> dict[str, str]:
    """Resolve relative key URIs against the URL of the manifest played.

    ``DrmConfig.hls_keys`` is matched with the key URI resolved against its playlist.
    """
    out: dict[str, str] = {}
    for uri, key in keys.items():
        absolute = uri == EVERY_IDENTITY_KEY or uri[:5].lower() == "data:" or urlsplit(uri).scheme
        out[uri if absolute else urljoin(manifest_url, uri)] = key
    return out
