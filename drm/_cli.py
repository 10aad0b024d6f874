"""The ``python -m drm`` command line: ``package`` and ``decrypt``.

Exit status: 0 success; 2 bad input: a file that is not (well-formed) MP4, or a key that is
missing or does not match the content (the message names the KID, never the key); 1 the
output could not be written; 130 interrupted. ``--keys`` is the flag's name in every command
line of the SDK; ``--key``, its former spelling here, still works (hidden from ``--help``).
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Sequence
from pathlib import Path

from drm._cliargs import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_USAGE,
    BadInput,
    Parser,
    fail,
    input_file,
    internal_error,
    output_file,
)
from drm._decrypt import clear_init_segment, decrypt_mp4
from drm._packager import package_mp4
from drm.errors import DrmError, KeyNotFound

__all__: list[str] = []

_KEY_ARG = re.compile(r"^([0-9a-fA-F]{32}):([0-9a-fA-F]{32})$")
_KEYS_HELP = "content key as KID:KEY, 32 hex digits each (a UUID KID is fine)"


def _key_pair(text: str) -> tuple[str, bytes]:
    kid, sep, key = text.partition(":")
    match = _KEY_ARG.match(kid.replace("-", "") + sep + key if kid.count("-") == 4 else text)
    if not match:
        # Never echo the argument: it holds key material.
        raise argparse.ArgumentTypeError(
            "not KID:KEY with 32 hex digits on each side (the value is not shown: it may hold "
            "a key)"
        )
    return match.group(1).lower(), bytes.fromhex(match.group(2))


def _add_keys(parser: argparse.ArgumentParser, *, many: bool) -> None:
    parser.add_argument(
        "--keys",
        type=_key_pair,
        action="append",
        default=[],
        metavar="KID:KEY",
        help=_KEYS_HELP + ("; repeat for several" if many else ""),
    )
    parser.add_argument(  # the former spelling, kept for existing scripts
        "--key", type=_key_pair, action="append", dest="keys", help=argparse.SUPPRESS
    )


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="python -m drm",
        description="Encrypt fragmented MP4 with CENC (cenc or cbcs) and decrypt it again.",
        epilog=(
            "Exit status: 0 done, 1 the output could not be written, 2 bad input (not MP4, "
            "malformed, or a wrong key, named by KID and never shown), 130 interrupted. "
            "See docs/drm.md."
        ),
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    package = commands.add_parser(
        "package",
        help="encrypt a clear fragmented MP4 (cenc or cbcs)",
        description="Encrypt a clear fragmented MP4 file with one content key.",
    )
    package.add_argument(
        "--scheme", choices=("cenc", "cbcs"), default="cenc", help="CENC scheme (default cenc)"
    )
    _add_keys(package, many=False)
    package.add_argument("input", type=input_file, metavar="INPUT", help="clear fragmented MP4")
    package.add_argument(
        "-o", "--output", type=output_file, required=True, metavar="FILE", help="encrypted MP4"
    )
    decrypt = commands.add_parser(
        "decrypt",
        help="decrypt a CENC file or segment to clear MP4",
        description="Decrypt a CENC (cenc, cbcs, cens, cbc1) file or media segment.",
    )
    _add_keys(decrypt, many=True)
    decrypt.add_argument(
        "--init", type=input_file, metavar="FILE", help="init segment, when INPUT is a segment"
    )
    decrypt.add_argument("input", type=input_file, metavar="INPUT", help="encrypted MP4")
    decrypt.add_argument(
        "-o", "--output", type=output_file, required=True, metavar="FILE", help="clear MP4"
    )
    return parser


def _run(args: argparse.Namespace) -> bytes | bytearray:
    if not args.keys:
        raise BadInput("--keys is required")
    data = args.input.read_bytes()
    if args.command == "package":
        if len(args.keys) != 1:
            raise BadInput("package takes exactly one --keys")
        ((kid, key),) = args.keys
        return package_mp4(data, key_id=kid, key=key, scheme=args.scheme)
    keys = dict(args.keys)
    if args.init is None:
        return decrypt_mp4(data, keys)
    init = args.init.read_bytes()
    return clear_init_segment(init) + decrypt_mp4(data, keys, init=init)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    prog = f"{parser.prog} {args.command}"
    try:
        output: Path = args.output
        output.write_bytes(_run(args))
    except KeyboardInterrupt:
        return fail(prog, "interrupted", EXIT_INTERRUPTED)
    except BadInput as exc:
        return fail(prog, exc, EXIT_USAGE)
    except KeyNotFound as exc:
        return fail(prog, f"no key for KID {exc.key_id} (missing or wrong --keys)", EXIT_USAGE)
    except DrmError as exc:
        return fail(prog, f"{args.input}: {exc}", EXIT_USAGE)
    except OSError as exc:
        return fail(prog, exc, EXIT_FAILED)
    except Exception as exc:  # one line, never a traceback (STREAMSDK_TRACEBACK=1 shows it)
        return internal_error(prog, exc)
    return 0
