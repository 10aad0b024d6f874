"""Shared data for the abr tests: traces and videos from ../shared/abr-data.

CI always has ``../shared`` beside the checkout: a missing file fails the test (it is never
skipped), so a run without the data cannot pass silently without checking fidelity.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import pytest

import abr

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "abr-data"


def _need(path: Path) -> Path:
    if not path.exists():
        pytest.fail(f"shared ABR data not found at {path} (CI provides ../shared/abr-data)")
    return path


@lru_cache(maxsize=None)
def norway() -> tuple[abr.NetworkTrace, ...]:
    folder = _need(DATA / "pensieve" / "cooked_test_traces")
    return tuple(
        abr.parse_cooked_trace(p.read_text(), name=p.name) for p in sorted(folder.iterdir())
    )


@lru_cache(maxsize=None)
def pensieve_video() -> abr.Video:
    folder = _need(DATA / "pensieve")
    return abr.parse_pensieve_video([(folder / f"video_size_{q}").read_text() for q in range(6)])


@lru_cache(maxsize=None)
def sabre_set(name: str) -> tuple[abr.NetworkTrace, ...]:
    folder = _need(DATA / "sabre" / name)
    return tuple(
        abr.parse_sabre_network(p.read_bytes(), name=p.name) for p in sorted(folder.iterdir())
    )


@lru_cache(maxsize=None)
def sabre_movie(name: str) -> abr.Video:
    return abr.parse_sabre_movie(_need(DATA / "sabre" / name).read_bytes())


SETS = {
    "norway": ("pensieve", None),
    "3g": ("sabre", "bbb.json"),
    "4g": ("sabre", "bbb.json"),
    "sd": ("sabre", "bbb.json"),
    "hd": ("sabre", "bbb4k.json"),
}
FOLDERS = {"3g": "3Glogs", "4g": "4Glogs", "sd": "sd_fs", "hd": "hd_fs"}


@lru_cache(maxsize=None)
def aggregate(algorithm: str, key: str) -> dict[str, float]:
    """Mean metrics of ``algorithm`` on a whole shared set (cached: several tests read them)."""
    mode_name, movie = SETS[key]
    mode = abr.SimMode.named(mode_name)
    if key == "norway":
        traces, video = norway(), pensieve_video()
    else:
        traces, video = sabre_set(FOLDERS[key]), sabre_movie(str(movie))
    ctrl = abr.make_controller(algorithm, mode)
    return abr.simulate(
        ctrl, traces, video, mode=mode, estimator=abr.make_estimator(algorithm)
    ).aggregate()
