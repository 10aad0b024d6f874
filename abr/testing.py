"""Test helpers for controllers: determinism and live/batch agreement (STYLE.md section 8)."""

from __future__ import annotations

import numpy as np

from abr._batch import BatchProgress, BatchReport, BatchState
from abr._controller import Controller
from abr._types import REASONS, AbandonProgress, AbrState, Decision, DownloadReport, Rung

__all__ = ["check_controller"]

_LADDER_KBPS = (300.0, 750.0, 1200.0, 1850.0, 2850.0, 4300.0)
_SEGMENT_S = 4.0


def _inputs(steps: int, seed: int) -> list[tuple[float, float, float, float]]:
    """(throughput bps, transfer factor, ttfb s, excluded-rung draw) per step, from a seed."""
    rng = np.random.default_rng(seed)
    tput = np.exp(rng.normal(np.log(2e6), 0.8, size=steps))
    return [
        (float(t), float(f), float(lat), float(x))
        for t, f, lat, x in zip(
            tput,
            rng.uniform(0.5, 1.5, size=steps),
            rng.uniform(0.02, 0.2, size=steps),
            rng.uniform(0, 1, size=steps),
            strict=True,
        )
    ]


def _play(controller: Controller, steps: int, seed: int) -> list[tuple[int, str, int | None]]:
    ladder = [Rung(k * 1e3, 0, 0) for k in _LADDER_KBPS]
    now, buf, cur = 0.0, 0.0, None
    out: list[tuple[int, str, int | None]] = []
    for i, (tput, factor, ttfb, draw) in enumerate(_inputs(steps, seed)):
        excluded = frozenset({len(ladder) - 1}) if draw < 0.1 else frozenset()
        state = AbrState(
            now=now,
            buffer_s=buf,
            throughput_bps=tput,
            ladder=ladder,
            current=cur,
            excluded=excluded,
            latency_s=ttfb,
            segment_duration_s=_SEGMENT_S,
            segment_index=i,
            segments_total=steps,
        )
        d: Decision = controller.select(state)
        if not 0 <= d.index < len(ladder) or d.index in excluded or d.rung != ladder[d.index]:
            raise AssertionError(f"step {i}: invalid decision {d} (excluded {sorted(excluded)})")
        size = ladder[d.index].bitrate_bps * _SEGMENT_S / 8.0
        duration = ttfb + 8.0 * size / (tput * factor)
        half = AbandonProgress(
            now=now + duration / 2,
            index=d.index,
            ladder=ladder,
            size_bytes=size,
            downloaded_bytes=size / 2,
            elapsed_s=duration / 2,
            ttfb_s=ttfb,
            buffer_s=max(buf - duration / 2, 0.0),
            latency_s=ttfb,
            segment_duration_s=_SEGMENT_S,
        )
        advice = controller.decide_abandon(half)
        to = None if advice is None else advice.index
        if to is not None and not 0 <= to < d.index:
            raise AssertionError(f"step {i}: abandonment advice {to} is not below rung {d.index}")
        now += duration
        buf = max(buf - duration, 0.0) + _SEGMENT_S
        controller.on_download(
            DownloadReport(
                now=now, index=d.index, nbytes=size, ttfb_s=ttfb, duration_s=duration, buffer_s=buf
            )
        )
        cur = d.index
        out.append((d.index, d.reason.value, to))
    return out


def _play_batch(
    controller: Controller, decisions: list[tuple[int, str, int | None]], seed: int, copies: int
) -> None:
    """Replay the scalar run as ``copies`` identical batch rows; every row must agree."""
    steps = len(decisions)
    rates = np.array(_LADDER_KBPS) * 1e3
    controller.reset(copies)
    rows = np.arange(copies, dtype=np.int64)
    now, buf, cur = 0.0, 0.0, -1
    for i, (tput, factor, ttfb, draw) in enumerate(_inputs(steps, seed)):
        excluded = np.zeros((copies, len(rates)), dtype=np.bool_)
        if draw < 0.1:
            excluded[:, -1] = True
        state = BatchState(
            sessions=rows,
            now=np.full(copies, now),
            buffer_s=np.full(copies, buf),
            throughput_bps=np.full(copies, tput),
            latency_s=np.full(copies, ttfb),
            current=np.full(copies, cur, dtype=np.int64),
            bitrates_bps=rates,
            segment_duration_s=_SEGMENT_S,
            segment_index=np.full(copies, i, dtype=np.int64),
            segments_total=steps,
            excluded=excluded,
        )
        index, reason = controller.select_batch(state)
        want, why, advice = decisions[i]
        if not np.all(index == want) or not all(REASONS[int(r)].value == why for r in reason):
            raise AssertionError(f"step {i}: batch rows chose {index.tolist()}, live chose {want}")
        size = rates[want] * _SEGMENT_S / 8.0
        duration = ttfb + 8.0 * size / (tput * factor)
        to = controller.decide_abandon_batch(
            BatchProgress(
                sessions=rows,
                now=np.full(copies, now + duration / 2),
                index=np.full(copies, want, dtype=np.int64),
                size_bytes=np.full(copies, size),
                downloaded_bytes=np.full(copies, size / 2),
                elapsed_s=np.full(copies, duration / 2),
                ttfb_s=np.full(copies, ttfb),
                buffer_s=np.full(copies, max(buf - duration / 2, 0.0)),
                latency_s=np.full(copies, ttfb),
                bitrates_bps=rates,
                segment_duration_s=_SEGMENT_S,
            )
        )
        if not np.all(to == (-1 if advice is None else advice)):
            raise AssertionError(f"step {i}: batch advice {to.tolist()}, live advice {advice}")
        now += duration
        buf = max(buf - duration, 0.0) + _SEGMENT_S
        controller.on_download_batch(
            BatchReport(
                sessions=rows,
                now=np.full(copies, now),
                index=np.full(copies, want, dtype=np.int64),
                nbytes=np.full(copies, size),
                ttfb_s=np.full(copies, ttfb),
                duration_s=np.full(copies, duration),
                buffer_s=np.full(copies, buf),
                is_abandoned=np.zeros(copies, dtype=np.bool_),
                abandon_to=np.full(copies, -1, dtype=np.int64),
            )
        )
        cur = want


def check_controller(
    controller: Controller, *, steps: int = 60, seed: int = 0
) -> list[tuple[int, str, int | None]]:
    """Check that ``controller`` is deterministic and behaves the same live and in batches.

    Feeds a seeded sequence of states (throughput, latency, exclusions), download reports and
    mid-download progress twice, resetting in between, and requires identical decisions,
    reasons and abandonment advice; then replays the sequence through the batch methods with
    several identical rows, which must all choose what the live calls chose. Every decision must
    be a valid, non-excluded rung, and abandonment advice must name a lower rung.

    Args:
        controller: The controller to check (it is reset; its state is lost).
        steps: Decisions per run.
        seed: Seed of the input sequence.

    Returns:
        The decisions of one run: ``(rung index, reason, abandonment advice or None)``.

    Raises:
        AssertionError: A check failed; the message names the step.

    >>> from abr import BbaController
    >>> len(check_controller(BbaController(), steps=10))
    10
    """
    controller.reset(1)
    first = _play(controller, steps, seed)
    controller.reset(1)
    second = _play(controller, steps, seed)
    if first != second:
        step = next(i for i, (a, b) in enumerate(zip(first, second, strict=True)) if a != b)
        raise AssertionError(
            f"step {step}: decisions differ between runs: {first[step]} != {second[step]}"
        )
    _play_batch(controller, first, seed, copies=3)
    controller.reset(1)
    return first
