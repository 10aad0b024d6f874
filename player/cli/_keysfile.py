"""The QA keys file: ClearKey content keys of content made by ``content make`` or the demo.

A JSON object whose ``keys`` member maps each KID (32 hex digits) to its key (32 hex
digits); other members describe the content and are ignored when reading::

    {"keys": {"0123...cdef": "4567...89ab"}, "scheme": "cenc", "content": "manifest.mpd"}

``play --keys-file`` and ``license serve --keys-file`` read it. Errors name the file and,
at most, a KID: a key never appears in a message.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

from player.cli._args import BadInput

__all__: list[str] = []

KEYS_FILE_NAME = "keys.json"
_HEX32 = re.compile(r"^[0-9a-f]{32}$")


def write_keys_file(path: Path, keys: dict[str, str], **about: Any) -> None:
    """Write ``keys`` (KID hex -> key hex) and a description, readable by the owner only."""
    document = {"keys": keys, **about}
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(document, handle, indent=2)
        handle.write("\n")


def read_keys_file(path: Path) -> dict[str, str]:
    """Read a keys file: KID hex -> key hex, both lowercase.

    Raises:
        BadInput: The file is not JSON, has no ``keys`` object, or an entry is malformed
            (the message names the file and never the key).
    """
    try:
        document = json.loads(path.read_bytes())
    except OSError as exc:
        raise BadInput(f"cannot read keys file {path}: {exc.strerror or exc}") from exc
    except (ValueError, UnicodeDecodeError):
        raise BadInput(f"keys file {path} is not JSON") from None
    keys = document.get("keys") if isinstance(document, dict) else None
    if not isinstance(keys, dict) or not keys:
        raise BadInput(f"keys file {path} has no 'keys' object of KID: key pairs")
    out: dict[str, str] = {}
    for index, (kid, key) in enumerate(keys.items(), start=1):
        kid_hex = str(kid).replace("-", "").lower()
        if not _HEX32.match(kid_hex):
            raise BadInput(f"keys file {path}: entry {index} has a KID that is not 32 hex digits")
        if not isinstance(key, str) or not _HEX32.match(key.lower()):
            raise BadInput(f"keys file {path}: the key for KID {kid_hex} is not 32 hex digits")
        out[kid_hex] = key.lower()
    return out
