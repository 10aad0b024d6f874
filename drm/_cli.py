"""The ``python -m drm`` command line: ``package`` and ``decrypt``.

Exit status: 0 success; 2 usage error, or a key is missing or does not match the content
(the message names the KID, never the key); 1 any other failure (malformed input, I/O).
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Sequence
from pathlib import Path

from drm._decrypt import clear_init_segment, decrypt_mp4
from drm._packager import package_mp4
from drm.errors import DrmError, KeyNotFound

__all__: list[str] = []

_KEY_ARG = re.compile(r"^([0-9a-fA-F]{32}):([0-9a-fA-F]{32})$")


def _key_pair(text: str) -> tuple[str, bytes]:
    match = _KEY_ARG.match(text.replace("-", "") if text.count("-") == 4 else text)
    if not match:
        # Never echo the argument: it holds key material.
        raise argparse.ArgumentTypeError("--key must be <kid-hex>:<key-hex>, 32 hex digits each")
    return match.group(1).lower(), bytes.fromhex(match.group(2))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m drm", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    package = commands.add_parser("package", help="encrypt a clear fragmented MP4 (cenc or cbcs)")
    package.add_argument("--scheme", choices=("cenc", "cbcs"), default="cenc")
    package.add_argument("--key", type=_key_pair, required=True, metavar="KID:KEY")
    package.add_argument("input", type=Path)
    package.add_argument("-o", "--output", type=Path, required=True)
    decrypt = commands.add_parser("decrypt", help="decrypt a CENC file or segment to clear MP4")
    decrypt.add_argument("--key", type=_key_pair, action="append", required=True, metavar="KID:KEY")
    decrypt.add_argument("--init", type=Path, help="init segment when the input is a media segment")
    decrypt.add_argument("input", type=Path)
    decrypt.add_argument("-o", "--output", type=Path, required=True)
    return parser


def _run(args: argparse.Namespace) -> bytes | bytearray:
    data = args.input.read_bytes()
    if args.command == "package":
        kid, key = args.key
        return package_mp4(data, key_id=kid, key=key, scheme=args.scheme)
    keys = dict(args.key)
    if args.init is None:
        return decrypt_mp4(data, keys)
    init = args.init.read_bytes()
    return clear_init_segment(init) + decrypt_mp4(data, keys, init=init)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.output.write_bytes(_run(args))
    except KeyNotFound as exc:
        print(f"error: no key for KID {exc.key_id} (missing or wrong --key)", file=sys.stderr)
        return 2
    except (DrmError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0
