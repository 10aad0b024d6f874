"""Same content, same result, whatever the input format (issue 13, part 1).

The Envivio video read from Pensieve's ``video_size_*`` files and the same video written as a
Sabre movie JSON must give every algorithm identical aggregates on the Norway set.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import pytest
from abr_data import DATA, aggregate, norway, pensieve_video

import abr
from abr._cli import read_video


@pytest.fixture(scope="module")
def movie_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("video") / "envivio.json"
    path.write_bytes(abr.format_sabre_movie(pensieve_video()))
    return path


def test_video_formats_hold_the_same_content(movie_file: Path, tmp_path: Path) -> None:
    files = pensieve_video()
    movie = read_video(movie_file)
    assert movie.segments == files.segments == 49
    assert np.array_equal(movie.sizes_bytes, files.sizes_bytes)
    assert np.array_equal(movie.bitrates_bps, files.bitrates_bps)
    assert movie.segment_duration_s == files.segment_duration_s == 4.0
    for q, text in enumerate(abr.format_pensieve_video(files)):
        (tmp_path / f"video_size_{q}").write_text(text)
        assert text == (DATA / "pensieve" / f"video_size_{q}").read_text()
    again = read_video(tmp_path)
    assert np.array_equal(again.sizes_bytes, files.sizes_bytes)


@pytest.mark.parametrize("algorithm", abr.ALGORITHMS)
def test_every_algorithm_gives_identical_aggregates_on_every_video_format(
    algorithm: str, movie_file: Path
) -> None:
    mode = abr.SimMode.pensieve()
    from_movie = abr.simulate(
        abr.make_controller(algorithm, mode),
        norway(),
        read_video(movie_file),
        mode=mode,
        estimator=abr.make_estimator(algorithm),
    ).aggregate()
    assert from_movie == aggregate(algorithm, "norway")


def test_pensieve_mode_plays_all_but_the_last_segment_of_any_format() -> None:
    mode = abr.SimMode.pensieve()
    result = abr.simulate(abr.BbaController(), norway()[:2], pensieve_video(), mode=mode)
    assert result.segments == 48 and result.quality.shape == (2, 48)
    sabre = abr.simulate(
        abr.BbaController(), norway()[:2], pensieve_video(), mode=abr.SimMode.sabre()
    )
    assert sabre.segments == 49
    tiny = abr.Video(
        segment_duration_s=4.0, bitrates_bps=np.array([1e6]), sizes_bytes=np.ones((1, 1))
    )
    with pytest.raises(abr.AbrConfigError, match="none left to play"):
        abr.simulate(abr.BbaController(), norway()[:1], tiny, mode=mode)


def test_look_ahead_past_the_end_never_prices_a_segment_at_zero() -> None:
    """robustMPC with Pensieve's one-ahead size look-up, deciding the last segment: the look-up
    runs past the video and must read the last segment (a huge one here), not 0 bytes."""
    ladder = [abr.Rung(k * 1e3) for k in abr.PENSIEVE_BITRATES_KBPS]
    mpc = abr.RobustMpcController(abr.MpcConfig(size_offset=1))
    huge = [[4e5, 1e6, 2e6, 4e6, 8e6, 16e6]]
    state = abr.AbrState(
        now=0.0,
        buffer_s=4.0,
        throughput_bps=2e6,
        ladder=ladder,
        current=2,
        segment_index=99,
        segments_total=100,
        next_sizes_bytes=huge,
    )
    # 1 MB at the 2 Mbit/s estimate takes 4 s: rung 1 just fits the 4 s buffer (rung 5 if the
    # last segment were free); the one-ahead look-up reads the same last segment as offset 0
    assert mpc.select(state).index == abr.RobustMpcController().select(state).index == 1


def test_truncated_movie_no_longer_stalls_robust_mpc(tmp_path: Path) -> None:
    """The issue's input: only the 48 played chunks as a Sabre movie. Its last decision used to
    price a missing 49th chunk at 0 bytes and fetch the top rung (7.0 s of stalls a session)."""
    full = pensieve_video()
    cut = abr.Video(
        segment_duration_s=4.0, bitrates_bps=full.bitrates_bps, sizes_bytes=full.sizes_bytes[:48]
    )
    mode = abr.SimMode.pensieve()
    agg = abr.simulate(abr.make_controller("robustmpc", mode), norway(), cut, mode=mode).aggregate()
    assert agg["mean_rebuffer_s"] < 2.0 and agg["mean_qoe_lin"] > 39.0


def _run(algorithm: str, traces: list[abr.NetworkTrace]) -> abr.SimResult:
    mode = abr.SimMode.pensieve()
    ctrl = abr.make_controller(algorithm, mode)
    est = abr.make_estimator(algorithm)
    return abr.simulate(ctrl, traces, pensieve_video(), mode=mode, estimator=est)


def _in_format(traces: list[abr.NetworkTrace], fmt: str) -> list[abr.NetworkTrace]:
    return [abr.parse_trace(abr.format_trace(t, fmt), name=t.name, fmt=fmt) for t in traces]


@functools.cache
def _trace_sets() -> tuple[list[abr.NetworkTrace], list[abr.NetworkTrace]]:
    """The network content, and the same content first made Mahimahi's (packet-quantised)."""
    return list(norway()[:24]), _in_format(list(norway()[24:27]), "mahimahi")


@functools.cache
def _rewritten(fmt: str) -> tuple[list[abr.NetworkTrace] | None, list[abr.NetworkTrace]]:
    """Both sets written in ``fmt`` and read back (once per run: every algorithm plays them).

    The content set is not written as Mahimahi (that quantises it: the second set is for that).
    """
    content, quantised = _trace_sets()
    return (None if fmt == "mahimahi" else _in_format(content, fmt)), _in_format(quantised, fmt)


@pytest.mark.parametrize("algorithm", abr.ALGORITHMS)
def test_every_algorithm_gives_identical_results_on_every_trace_format(algorithm: str) -> None:
    """The same network content in each trace format: identical decisions and aggregates.

    ``npz`` carries the periods bit for bit: its aggregates are equal exactly. The text formats
    store absolute times (cooked, csv, oboe) or other units (ms, kbit/s), which rounds a period
    by an ulp or so: decisions must still be identical and aggregates equal to 1e-12. Mahimahi
    quantises content to packets, so its content is first made Mahimahi's and then written in
    every format. The files are written and read once, and every algorithm plays them.
    """
    content, quantised = _trace_sets()
    base, base_q = _run(algorithm, content), _run(algorithm, quantised)
    for fmt in abr.TRACE_FORMATS:
        for source, ref in zip(_rewritten(fmt), (base, base_q), strict=True):
            if source is None:
                continue
            got = _run(algorithm, source)
            assert np.array_equal(got.quality, ref.quality), fmt
            if fmt == "npz":
                assert got.aggregate() == ref.aggregate(), fmt
            else:
                assert got.aggregate() == pytest.approx(ref.aggregate(), rel=1e-9), fmt
