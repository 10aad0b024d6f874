"""Mutation fuzzing of the SDK's parsers and decryptors, with figures per target.

Run: python scripts/fuzz.py                         (every target, 100,000 cases each)
     python scripts/fuzz.py --targets drm.cenc,drm.pssh --cases 20000 --seed 7
     python scripts/fuzz.py --list
     python scripts/fuzz.py --replay fuzz-repros/drm.cenc/<hash>.bin

Each target is a callable taking ``bytes`` and the exception types it may raise (the typed
errors of its package). Cases are valid seed inputs mutated 1 to 4 times: bytes, 32-bit
fields and box headers (size 0 = to end, size 1 = 64-bit largesize, truncation, a renamed
type), chunks inserted, removed, duplicated or spliced from another seed. Any other
exception is an escape: the input is saved under ``--out`` with the traceback, and the
run exits 1 (the slowest input is saved there too, as ``slowest.bin``). Per target the
report gives cases, escapes, the slowest case and the peak memory (``tracemalloc`` on a
sample of cases, and the process's peak RSS; each target runs in a fresh process).

Register more targets with :func:`register` (name -> callable and allowed exceptions).
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import json
import multiprocessing
import random
import resource
import struct
import sys
import time
import traceback
import tracemalloc
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
if __name__ in ("__main__", "__mp_main__"):  # target modules ``import fuzz``: this very module
    sys.modules.setdefault("fuzz", sys.modules[__name__])
MEDIA = ROOT.parent / "shared" / "corpus" / "media"

Seeds = Callable[[], list[bytes]]
Mutator = Callable[[bytes, random.Random], bytes]


@dataclass(frozen=True)
class Target:
    """A fuzz target.

    Attributes:
        name: Dotted name, e.g. ``drm.cenc``.
        run: Called with each mutated input.
        allowed: Exceptions that count as a typed refusal.
        seeds: Returns the valid inputs that are mutated.
        is_mp4: Whether box-aware mutations apply.
        mutator: A format-aware mutation used for half of the cases (e.g. JSON), if any.
    """

    name: str
    run: Callable[[bytes], object]
    allowed: tuple[type[BaseException], ...]
    seeds: Seeds
    is_mp4: bool = False
    mutator: Mutator | None = None


TARGETS: dict[str, Target] = {}


def register(
    name: str,
    *,
    allowed: tuple[type[BaseException], ...],
    seeds: Seeds,
    is_mp4: bool = False,
    mutator: Mutator | None = None,
) -> Callable[[Callable[[bytes], object]], Callable[[bytes], object]]:
    """Decorator: register ``function(data: bytes)`` as a fuzz target."""

    def add(function: Callable[[bytes], object]) -> Callable[[bytes], object]:
        TARGETS[name] = Target(name, function, allowed, seeds, is_mp4, mutator)
        return function

    return add


# --- mutations ---------------------------------------------------------------------------

_INTERESTING32 = (0, 1, 7, 8, 9, 15, 16, 17, 0x7F, 0xFF, 0x100, 0xFFFF, 0x7FFFFFFF, 0xFFFFFFFF)
_BOX_TYPES: tuple[bytes, ...] = (
    *(b"moov", b"moof", b"mdat", b"free", b"traf", b"trun", b"senc", b"saiz", b"saio"),
    *(b"tfhd", b"trak", b"stsd", b"encv", b"sinf", b"tenc", b"pssh", b"sidx", b"uuid"),
)


def _box_headers(data: bytes | bytearray, limit: int = 64) -> list[tuple[int, int]]:
    """(offset, size) of box headers found by walking containers, at most ``limit``."""
    found: list[tuple[int, int]] = []
    stack = [(0, len(data))]
    while stack and len(found) < limit:
        pos, end = stack.pop()
        while pos + 8 <= end and len(found) < limit:
            size = int.from_bytes(data[pos : pos + 4], "big")
            kind = bytes(data[pos + 4 : pos + 8])
            if size < 8 or pos + size > end:
                break
            found.append((pos, size))
            if kind in (b"moov", b"trak", b"mdia", b"minf", b"stbl", b"moof", b"traf", b"mvex"):
                stack.append((pos + 8, pos + size))
            elif kind in (b"sinf", b"schi"):
                stack.append((pos + 8, pos + size))
            elif kind == b"stsd":
                stack.append((pos + 16, pos + size))
            elif kind in (b"encv", b"avc1"):
                stack.append((pos + 86, pos + size))
            elif kind in (b"enca", b"mp4a"):
                stack.append((pos + 36, pos + size))
            pos += size
    return found


def _mutate_box(data: bytearray, rng: random.Random) -> None:
    headers = _box_headers(data)
    if not headers:
        return
    pos, size = rng.choice(headers)
    choice = rng.randrange(7)
    if choice == 0:  # to end of file
        data[pos : pos + 4] = b"\x00\x00\x00\x00"
    elif choice == 1:  # 64-bit largesize, right or wrong
        large = size + 8 if rng.random() < 0.5 else rng.choice((0, 8, 15, 16, 2**40, size))
        # the header grows by 8 bytes: the payload shifts, as a writer would do it
        data[pos : pos + 8] = struct.pack(">I4sQ", 1, bytes(data[pos + 4 : pos + 8]), large)
    elif choice == 2:  # renamed
        data[pos + 4 : pos + 8] = rng.choice(_BOX_TYPES)
    elif choice == 3:  # truncated box or file
        cut = pos + rng.randrange(max(1, size))
        end = len(data) if rng.random() < 0.3 else pos + size
        del data[cut:end]
    elif choice == 4:  # size off by a little or a lot
        new = max(0, min(0xFFFFFFFF, size + rng.choice((-16, -8, -1, 1, 8, 16, 1 << 20))))
        data[pos : pos + 4] = new.to_bytes(4, "big")
    elif choice == 5:  # version/flags of a full box
        data[pos + 8 : pos + 12] = rng.getrandbits(32).to_bytes(4, "big")
    else:  # a count or offset field inside the box
        at = pos + 8 + 4 * rng.randrange(max(1, min(size - 8, 64) // 4))
        if at + 4 <= len(data):
            data[at : at + 4] = rng.choice(_INTERESTING32).to_bytes(4, "big")


def _mutate_bytes(data: bytearray, rng: random.Random, others: Sequence[bytes]) -> None:
    n = len(data)
    choice = rng.randrange(8)
    at = rng.randrange(n) if n else 0
    if choice == 0 and n:
        data[at] ^= 1 << rng.randrange(8)
    elif choice == 1 and n:
        data[at] = rng.choice((0, 1, 3, 0x7F, 0x80, 0xFF, rng.randrange(256)))
    elif choice == 2 and n >= 4:
        at = min(at, n - 4)
        data[at : at + 4] = rng.choice(_INTERESTING32).to_bytes(4, "big")
    elif choice == 3:
        data[at:at] = bytes(rng.getrandbits(8) for _ in range(rng.choice((1, 2, 4, 16, 64))))
    elif choice == 4 and n:
        del data[at : at + rng.choice((1, 4, 16, 188, 1024))]
    elif choice == 5 and n:
        chunk = data[at : at + rng.choice((4, 16, 64, 512))]
        data[rng.randrange(n + 1) : 0] = chunk * rng.choice((1, 2, 8))
    elif choice == 6 and others:
        other = rng.choice(others)
        cut = rng.randrange(len(other) + 1)
        data[at:] = other[cut : cut + rng.randrange(1, 4096)]
    elif n:
        del data[rng.randrange(n) :]


def mutate(seed: bytes, rng: random.Random, others: Sequence[bytes], *, is_mp4: bool) -> bytes:
    """Return ``seed`` with 1 to 4 random mutations."""
    data = bytearray(seed)
    for _ in range(rng.choice((1, 1, 2, 3, 4))):
        if is_mp4 and rng.random() < 0.5:
            _mutate_box(data, rng)
        else:
            _mutate_bytes(data, rng, others)
    return bytes(data)


# --- the run -------------------------------------------------------------------------------


@dataclass
class Report:
    """What one target's run found."""

    target: str
    cases: int = 0
    refused: int = 0
    escapes: int = 0
    escape_kinds: dict[str, int] = field(default_factory=dict)
    slowest_s: float = 0.0
    slowest_case: int = -1
    slowest_retimed_s: float = 0.0
    seconds: float = 0.0
    peak_case_bytes: int = 0
    peak_rss_mib: float = 0.0
    repros: list[str] = field(default_factory=list)


def _save(out: Path, target: str, data: bytes, error: BaseException) -> str:
    folder = out / target
    folder.mkdir(parents=True, exist_ok=True)
    name = hashlib.sha1(data).hexdigest()[:16]
    (folder / f"{name}.bin").write_bytes(data)
    trace = "".join(traceback.format_exception(error))
    (folder / f"{name}.txt").write_text(trace, encoding="utf-8")
    return str(folder / f"{name}.bin")


def _retime(target: Target, data: bytes, runs: int = 5) -> float:
    """Best of ``runs`` timings of one input: its own cost, without the machine's load."""
    best = float("inf")
    for _ in range(runs):
        begun = time.perf_counter()
        try:
            target.run(data)
        except Exception:  # only the time matters here
            pass
        best = min(best, time.perf_counter() - begun)
    return best


def fuzz(target: Target, *, cases: int, seed: int, out: Path, sample_every: int) -> Report:
    """Run ``cases`` mutated inputs through one target."""
    rng = random.Random(f"{seed}:{target.name}")
    seeds = target.seeds()
    report = Report(target.name)
    slowest = b""
    started = time.perf_counter()
    for case in range(cases):
        seed_input = rng.choice(seeds)
        if target.mutator is not None and rng.random() < 0.5:
            data = target.mutator(seed_input, rng)
        else:
            data = mutate(seed_input, rng, seeds, is_mp4=target.is_mp4)
        traced = case % sample_every == 0
        if traced:
            tracemalloc.start()
        begun = time.perf_counter()
        try:
            target.run(data)
        except target.allowed:
            report.refused += 1
        except Exception as error:  # an escape: anything but the target's typed errors
            report.escapes += 1
            where = traceback.extract_tb(error.__traceback__)[-1]
            kind = f"{type(error).__name__} at {Path(where.filename).name}:{where.lineno}"
            report.escape_kinds[kind] = report.escape_kinds.get(kind, 0) + 1
            if report.escape_kinds[kind] == 1:
                report.repros.append(_save(out, target.name, data, error))
        elapsed = time.perf_counter() - begun
        if traced:
            report.peak_case_bytes = max(report.peak_case_bytes, tracemalloc.get_traced_memory()[1])
            tracemalloc.stop()
        if elapsed > report.slowest_s:
            report.slowest_s, report.slowest_case, slowest = elapsed, case, data
        report.cases += 1
    report.seconds = time.perf_counter() - started
    if report.cases:
        (out / target.name).mkdir(parents=True, exist_ok=True)
        (out / target.name / "slowest.bin").write_bytes(slowest)
        report.slowest_retimed_s = _retime(target, slowest)
    report.peak_rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return report


def _print(report: Report) -> None:
    print(
        f"{report.target:<20} cases {report.cases:>7}  refused {report.refused:>7}  "
        f"escapes {report.escapes:>4}  slowest {report.slowest_s * 1000:7.1f} ms "
        f"(case {report.slowest_case}; re-timed {report.slowest_retimed_s * 1000:.2f} ms)  "
        f"peak case {report.peak_case_bytes / 2**20:5.2f} MiB  "
        f"peak RSS {report.peak_rss_mib:7.1f} MiB  {report.seconds:7.1f} s",
        flush=True,
    )
    for kind, count in sorted(report.escape_kinds.items()):
        print(f"    escape x{count}: {kind}", flush=True)


def _load_targets() -> None:
    """Import every ``scripts/fuzz_*.py``: each registers its package's targets."""
    sys.path.insert(0, str(ROOT / "scripts"))
    for path in sorted((ROOT / "scripts").glob("fuzz_*.py")):
        importlib.import_module(path.stem)


def _run_one(name: str, cases: int, seed: int, out: Path, sample_every: int) -> Report:
    """Run one target in this (fresh) process, so its peak RSS is its own."""
    _load_targets()
    return fuzz(TARGETS[name], cases=cases, seed=seed, out=out, sample_every=sample_every)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=100_000, help="cases per target")
    parser.add_argument("--targets", default="", help="comma-separated names (default: all)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, default=ROOT / "fuzz-repros")
    parser.add_argument("--sample-every", type=int, default=97, help="tracemalloc 1 case in N")
    parser.add_argument("--json", type=Path, help="also write the reports as JSON")
    parser.add_argument("--list", action="store_true", help="list the targets and exit")
    parser.add_argument("--replay", type=Path, help="run one saved input (target from its folder)")
    args = parser.parse_args(argv)
    _load_targets()
    if args.list:
        print("\n".join(sorted(TARGETS)))
        return 0
    if args.replay:
        TARGETS[args.replay.parent.name].run(args.replay.read_bytes())
        print("no exception")
        return 0
    names = [n for n in args.targets.split(",") if n] or sorted(TARGETS)
    unknown = [n for n in names if n not in TARGETS]
    if unknown:
        parser.error(f"unknown targets: {', '.join(unknown)} (see --list)")
    reports = []
    spawn = multiprocessing.get_context("spawn")
    for name in names:
        with spawn.Pool(1) as pool:
            job = (name, args.cases, args.seed, args.out, args.sample_every)
            report = pool.apply(_run_one, job)
        _print(report)
        reports.append(report)
    if args.json:
        args.json.write_text(json.dumps([r.__dict__ for r in reports], indent=1), encoding="utf-8")
    return 1 if any(r.escapes for r in reports) else 0


if __name__ == "__main__":
    raise SystemExit(main())
