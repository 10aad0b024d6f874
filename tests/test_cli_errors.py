# ruff: noqa: E501 (the table of cases reads best one case per line)
"""Every kind of bad input in docs/errors.md, through every command line it applies to.

Each case must end with exit status 2 and exactly one line on stderr, ``<prog>: error: ...``,
naming the bad thing (a file name, a flag, a URL), with no traceback and no key material.
Cases run in-process through each package's ``main`` (fast); one case per command line also
runs as a real ``python -m`` subprocess. The test also checks that the kinds documented in
docs/errors.md and the kinds exercised here are the same list.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest

import abr._cli
import drm._cli
import player.cli
import transport._cli

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "errors.md"
KEY = "00112233445566778899aabbccddeeff"
SHARED = ROOT.parent / "shared" / "abr-data"

MAINS: dict[str, Callable[[Sequence[str]], int]] = {
    "player": player.cli.main,
    "transport": transport._cli.main,
    "drm": drm._cli.main,
    "abr": abr._cli.main,
}


@dataclass(frozen=True)
class Case:
    kind: str
    package: str
    argv: tuple[str, ...]
    names: str
    """Text the error line must contain: the thing it is about."""


def _jpeg(path: Path) -> Path:
    """A real JPEG picture (FFmpeg's MJPEG encoder through PyAV)."""
    out = av.open(str(path), mode="w", format="image2")
    stream = out.add_stream("mjpeg", rate=1)
    stream.width, stream.height, stream.pix_fmt = 32, 32, "yuvj420p"
    pixels = np.random.default_rng(0).integers(0, 255, (32, 32, 3), dtype=np.uint8)
    for packet in stream.encode(av.VideoFrame.from_ndarray(pixels, format="rgb24")):
        out.mux(packet)
    for packet in stream.encode():
        out.mux(packet)
    out.close()
    assert path.read_bytes()[:2] == b"\xff\xd8"
    return path


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("bad-input")
    folder = root / "folder"
    folder.mkdir()
    notes = root / "notes.txt"
    notes.write_text("not a certificate\n")
    mpd = root / "vod.mpd"
    shutil.copy(ROOT / "examples" / "manifests" / "vod.mpd", mpd)
    return {
        "root": root,
        "folder": folder,
        "jpeg": _jpeg(root / "photo.jpg"),
        "notes": notes,
        "mpd": mpd,
        "missing": root / "nope" / "missing.mpd",
        "blocked": Path("/proc/streamsdk-nope/out.json"),
    }


def _cases(f: dict[str, Path]) -> list[Case]:
    url = "https://127.0.0.1:9/a.mpd"
    key_pair = f"{KEY}:{KEY}"
    video = str(SHARED / "pensieve")
    traces = str(SHARED / "pensieve" / "cooked_test_traces")
    miss, jpeg, folder, notes = str(f["missing"]), str(f["jpeg"]), str(f["folder"]), str(f["notes"])
    blocked = str(f["blocked"])
    mp4 = str(f["mpd"])  # any existing file: the error must come first
    out = str(f["root"] / "out.mp4")  # writable: only the bad input may fail
    c = Case
    return [
        # missing-file
        c("missing-file", "player", ("play", miss), "missing.mpd"),
        c("missing-file", "player", ("probe", miss), "missing.mpd"),
        c("missing-file", "player", ("play", url, "--keys-file", miss), "missing.mpd"),
        c("missing-file", "player", ("license", "serve", "--keys-file", miss), "missing.mpd"),
        c("missing-file", "player", ("download", url, "--out", folder, "--keys-file", miss), "missing.mpd"),
        c("missing-file", "transport", ("lab", "--root", str(f["root"] / "absent")), "absent"),
        c("missing-file", "drm", ("decrypt", "--keys", key_pair, miss, "-o", out), "missing"),
        c("missing-file", "abr", ("simulate", "--traces", miss, "--video", video), "missing.mpd"),
        c("missing-file", "abr", ("compare", "--traces", traces, "--video", miss), "missing.mpd"),
        # directory-for-file
        c("directory-for-file", "player", ("play", folder), "folder"),
        c("directory-for-file", "player", ("play", url, "--ca", folder), "folder"),
        c("directory-for-file", "transport", ("fetch", url, "--ca", folder), "folder"),
        c("directory-for-file", "drm", ("package", "--keys", key_pair, folder, "-o", out), "folder"),
        # unreadable-ca
        c("unreadable-ca", "player", ("play", url, "--ca", miss), "missing.mpd"),
        c("unreadable-ca", "player", ("play", url, "--ca", notes), "notes.txt"),
        c("unreadable-ca", "transport", ("fetch", url, "--ca", miss), "missing.mpd"),
        c("unreadable-ca", "transport", ("fetch", url, "--ca", notes), "notes.txt"),
        # bad-url
        c("bad-url", "player", ("play", "ftp://host/a.mpd"), "ftp"),
        c("bad-url", "player", ("play", url, "--cdn", "example.com"), "example.com"),
        c("bad-url", "player", ("play", url, "--license-url", "x"), "--license-url"),
        c("bad-url", "player", ("play", url, "--heartbeat-url", "x"), "--heartbeat-url"),
        c("bad-url", "player", ("download", "ftp://host/a.mpd", "--out", folder), "ftp"),
        c("bad-url", "player", ("probe", str(f["mpd"]), "--base-url", "x"), "--base-url"),
        c("bad-url", "transport", ("fetch", "notaurl"), "notaurl"),
        # bad-flag-value
        c("bad-flag-value", "player", ("play", url, "--stop-after", "soon"), "--stop-after"),
        c("bad-flag-value", "player", ("play", url, "--max-rebuffer-ratio", "2"), "--max-rebuffer"),
        c("bad-flag-value", "player", ("play", url, "--timeout", "0"), "--timeout"),
        c("bad-flag-value", "player", ("play", url, "--expect-cue-at", "soon"), "--expect-cue-at"),
        c("bad-flag-value", "player", ("play", url, "--min-subtitle-coverage", "2"), "--min-subtitle"),
        c("bad-flag-value", "player", ("demo", "--duration", "5"), "--duration"),
        c("bad-flag-value", "player", ("download", url, "--out", folder, "--max-height", "tall"), "--max-height"),
        c("bad-flag-value", "player", ("license", "serve", "--keys-file", notes, "--persistent-duration", "0"), "--persistent-duration"),
        c("bad-flag-value", "player", ("content", "make", folder, "--ladder", "big"), "--ladder"),
        c("bad-flag-value", "player", ("sessions", "serve", "--db", out, "--port", "x"), "--port"),
        c("bad-flag-value", "transport", ("lab", "--root", folder, "--edges", "-1"), "--edges"),
        c("bad-flag-value", "transport", ("fetch", url, "--repeat", "0"), "--repeat"),
        c("bad-flag-value", "drm", ("package", "--scheme", "rot13", mp4, "-o", out), "--scheme"),
        c("bad-flag-value", "abr", ("simulate", "--traces", traces, "--video", video, "--jobs", "0"), "--jobs"),
        c("bad-flag-value", "player", ("fidelity", "--traces", traces, "--jobs", "0"), "--jobs"),
        c("bad-flag-value", "player", ("fidelity", "--traces", traces, "--loss", "2"), "--loss"),
        c("bad-flag-value", "transport", ("lab", "--root", folder, "--stop-after", "0"), "--stop-after"),
        # wrong-kind-of-file
        c("wrong-kind-of-file", "player", ("play", jpeg), "photo.jpg"),
        c("wrong-kind-of-file", "player", ("probe", jpeg), "photo.jpg"),
        c("wrong-kind-of-file", "player", ("play", url, "--keys-file", jpeg), "photo.jpg"),
        c("wrong-kind-of-file", "player", ("license", "serve", "--keys-file", jpeg), "photo.jpg"),
        c("wrong-kind-of-file", "player", ("play", mp4, "--offline-license", jpeg), "--offline-license"),
        c("wrong-kind-of-file", "transport", ("lab", "--root", folder, "--trace", jpeg), "photo.jpg"),
        c("wrong-kind-of-file", "drm", ("decrypt", "--keys", key_pair, jpeg, "-o", out), "photo.jpg"),
        c("wrong-kind-of-file", "abr", ("simulate", "--traces", jpeg, "--video", video), "photo.jpg"),
        c("wrong-kind-of-file", "abr", ("compare", "--traces", traces, "--video", jpeg), "photo.jpg"),
        # unwritable-output
        c("unwritable-output", "player", ("play", url, "--report", blocked), "--report"),
        c("unwritable-output", "player", ("play", url, "--junit", blocked), "--junit"),
        c("unwritable-output", "player", ("play", url, "--plot", blocked), "--plot"),
        c("unwritable-output", "player", ("play", url, "--thumbnail-dir", blocked), "--thumbnail-dir"),
        c("unwritable-output", "player", ("play", url, "--thumbnails-from-track", blocked), "--thumbnails-from-track"),
        c("unwritable-output", "player", ("demo", "--report", blocked), "--report"),
        c("unwritable-output", "player", ("content", "make", blocked), "streamsdk-nope"),
        c("unwritable-output", "player", ("download", url, "--out", blocked), "--out"),
        c("unwritable-output", "transport", ("fetch", url, "-o", blocked), "--output"),
        c("unwritable-output", "drm", ("package", "--keys", key_pair, mp4, "-o", blocked), "--output"),
        c("unwritable-output", "abr", ("simulate", "--traces", traces, "--video", video, "--out", blocked), "--out"),
        c("unwritable-output", "abr", ("compare", "--traces", traces, "--video", video, "--plot", blocked), "--plot"),
        c("unwritable-output", "player", ("fidelity", "--traces", traces, "--out", blocked), "--out"),
        c("unwritable-output", "transport", ("lab", "--root", folder, "--ca-dir", blocked), "--ca-dir"),
        c("unwritable-output", "transport", ("lab", "--root", folder, "--request-log", blocked), "--request-log"),
        # malformed-key
        c("malformed-key", "player", ("play", url, "--keys", KEY), "--keys"),
        c("malformed-key", "player", ("play", url, "--keys", f"zz:{KEY}"), "--keys"),
        c("malformed-key", "player", ("download", url, "--out", folder, "--keys", KEY), "--keys"),
        c("malformed-key", "player", ("content", "make", folder, "--encryption", "cenc", "--keys", KEY), "--keys"),
        c("malformed-key", "drm", ("package", "--keys", f"{KEY}:zz{KEY[2:]}", mp4, "-o", out), "--keys"),
        c("malformed-key", "drm", ("decrypt", "--key", KEY, mp4, "-o", out), "--key"),
    ]  # fmt: skip


def _documented_kinds() -> list[str]:
    text = DOC.read_text(encoding="utf-8")
    section = text[text.index("## Command lines: bad input") :]
    return re.findall(r"^\| `([a-z-]+)` \|", section, flags=re.MULTILINE)


def _check(case: Case, status: int, out: str, err: str) -> None:
    lines = [line for line in err.splitlines() if line.strip()]
    where = f"{case.package} {' '.join(case.argv)}"
    assert status == 2, f"{where}: exit {status}, stderr {err!r}"
    assert "Traceback" not in err + out, where
    assert len(lines) == 1, f"{where}: {err!r}"
    assert lines[0].startswith(f"python -m {case.package} "), lines[0]
    assert ": error: " in lines[0], lines[0]
    assert case.names in lines[0], f"{where}: {lines[0]!r} does not name {case.names!r}"
    if case.kind == "malformed-key":
        assert KEY not in err + out and KEY[2:] not in err + out, "the key was echoed"


def test_the_documented_kinds_are_the_tested_kinds(files: dict[str, Path]) -> None:
    documented = _documented_kinds()
    assert documented, "docs/errors.md lost its bad-input table"
    assert sorted(set(documented)) == sorted({case.kind for case in _cases(files)})
    packages = {kind: {c.package for c in _cases(files) if c.kind == kind} for kind in documented}
    assert all(packages.values())


def test_every_bad_input_is_one_line_and_exit_2(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    for case in _cases(files):
        try:
            status = MAINS[case.package](list(case.argv))
        except SystemExit as exc:
            status = int(exc.code or 0)
        captured = capsys.readouterr()
        _check(case, status, captured.out, captured.err)


def test_each_command_line_as_a_real_process(files: dict[str, Path]) -> None:
    firsts: dict[str, Case] = {}
    for case in _cases(files):
        if case.kind in ("missing-file", "wrong-kind-of-file"):
            firsts.setdefault(f"{case.package}:{case.kind}", case)
    procs = {
        key: subprocess.Popen(
            [sys.executable, "-m", case.package, *case.argv],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for key, case in firsts.items()
    }
    for key, proc in procs.items():
        out, err = proc.communicate(timeout=120)
        _check(firsts[key], proc.returncode, out, err)


def _parsers() -> dict[str, argparse.ArgumentParser]:
    from player.cli._main import build_parser as player_parser

    return {
        "player": player_parser(),
        "transport": transport._cli.build_parser(),
        "drm": drm._cli.build_parser(),
        "abr": abr._cli._parser(),
    }


def _walk(parser: argparse.ArgumentParser) -> Iterator[tuple[argparse.ArgumentParser, Any]]:
    for action in parser._actions:
        yield parser, action
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                yield from _walk(sub)


def test_every_command_and_option_has_help_written_for_users() -> None:
    missing, dev_speak = [], []
    for package, parser in _parsers().items():
        assert parser.description and "``" not in parser.description, package
        for owner, action in _walk(parser):
            if action.help == argparse.SUPPRESS or isinstance(action, argparse._HelpAction):
                continue
            if isinstance(action, argparse._SubParsersAction):
                for choice in action._choices_actions:
                    if not choice.help:
                        missing.append(f"{owner.prog} {choice.dest}")
                for sub in action.choices.values():
                    if not sub.description:
                        missing.append(f"{sub.prog} (description)")
                continue
            name = "/".join(action.option_strings) or action.dest
            if not action.help:
                missing.append(f"{owner.prog} {name}")
            elif re.search(r"``|:class:|:func:|\bTODO\b", action.help):
                dev_speak.append(f"{owner.prog} {name}: {action.help}")
    assert not missing, "no help text: " + ", ".join(missing)
    assert not dev_speak, dev_speak


def test_keys_is_the_one_flag_name_and_key_still_works() -> None:
    from player.cli._main import build_parser as player_parser

    play = player_parser().parse_args(["play", "https://a/b.mpd", "--keys", f"{KEY}:{KEY}"])
    package = drm._cli.build_parser().parse_args(
        ["package", "--keys", f"{KEY}:{KEY}", str(DOC), "-o", "y"]
    )
    old = drm._cli.build_parser().parse_args(
        ["package", "--key", f"{KEY}:{KEY}", str(DOC), "-o", "y"]
    )
    assert play.keys == [f"{KEY}:{KEY}"]
    assert package.keys == old.keys == [(KEY, bytes.fromhex(KEY))]
    assert (
        "--key "
        not in drm._cli.build_parser()
        ._subparsers._group_actions[0]
        .choices["package"]
        .format_help()
    )
