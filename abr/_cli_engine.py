"""Sweeps on Ray: ``python -m abr simulate|compare --engine ray [--address ADDR]``.

A run is a list of jobs (one per algorithm and sweep point), each cut into batches of
``--batch`` sessions. A batch is the unit of work of every engine: the command line's
``_run_batch`` depends only on its job, its traces and its seed, so Ray returns exactly what the
local engine returns, whatever order the batches finish in. Ray is an optional extra
(``cluster``), imported only here, inside the function that uses it.

Ctrl-C stops a Ray run as it stops a local one: the batches not finished are dropped (Ray's
shutdown stops its workers), and :class:`Interrupted` carries what was finished, which the
command line writes to ``--out`` with ``"state": "interrupted"``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from abr._sim import SimResult
from abr.errors import AbrError

__all__: list[str] = []

ENGINES = ("local", "ray")


class Interrupted(Exception):
    """Ctrl-C during a run; ``results`` holds what was finished (whole batches only)."""

    def __init__(self, results: list[SimResult]) -> None:
        super().__init__("interrupted")
        self.results = results


BatchFn = Callable[[Any, Any, slice], SimResult]
"""``(job, setup, sessions) -> result``: one batch of one job (module-level, so Ray can ship
it to its workers by reference)."""


def batches(n: int, size: int) -> Iterator[slice]:
    """Consecutive slices of at most ``size`` sessions covering ``n``."""
    for start in range(0, n, size):
        yield slice(start, min(start + size, n))


def run_ray(
    jobs: Sequence[Any], setup: Any, run_batch: BatchFn, *, address: str | None, quiet: bool
) -> list[SimResult]:
    """Run every batch of every job as a Ray task; results are gathered in job order.

    With no ``address`` a local Ray is started (and stopped afterwards); with one, the run
    joins that cluster, whose nodes must have ``streamsdk`` installed. Traces and video travel
    once, through Ray's object store, shared by every task.

    Raises:
        AbrError: Ray is not installed (``pip install 'streamsdk[cluster]'``) or cannot be
            started or reached.
        Interrupted: Ctrl-C; the batches finished so far are in its ``results``.
    """
    try:
        import ray
    except ImportError as exc:
        raise AbrError("--engine ray needs Ray: pip install 'streamsdk[cluster]'") from exc
    # Ray's own warnings (e.g. about token authentication) would be printed by Python's
    # last-resort handler: the command line reports errors itself, one line each.
    logging.getLogger("ray").setLevel(logging.ERROR)
    started = not ray.is_initialized()
    try:
        if started:
            try:
                ray.init(
                    address=address,
                    include_dashboard=False,
                    log_to_driver=False,
                    logging_level=logging.ERROR,
                    configure_logging=False,
                )
            except (ConnectionError, RuntimeError, ValueError) as exc:
                where = address or "local"
                raise AbrError(f"cannot start or reach Ray at {where}: {exc}") from exc
        return _gather(ray, jobs, setup, run_batch, quiet, where=address or "local")
    except KeyboardInterrupt:
        raise Interrupted([]) from None  # Ctrl-C while Ray started: nothing done yet
    finally:
        if started:
            ray.shutdown()


def _progress(quiet: bool) -> Any:
    """A rich progress display, or ``None`` when quiet or rich is missing (optional extra)."""
    if quiet:
        return None
    try:
        from rich.progress import Progress
    except ImportError:
        return None
    return Progress(transient=False)


def _label(job: Any, setup: Any) -> str:
    """A progress bar's label; escaped, so a sweep label's ``[key=value]`` stays visible."""
    from rich.markup import escape

    return escape(f"{job.label} ({setup.mode.name}, ray)")


def _gather(
    ray: Any, jobs: Sequence[Any], setup: Any, run_batch: BatchFn, quiet: bool, *, where: str
) -> list[SimResult]:
    remote = ray.remote(run_batch)
    setup_ref = ray.put(setup)
    slices = list(batches(len(setup.traces), setup.batch))
    futures = {
        remote.remote(job, setup_ref, sl): (j, k)
        for j, job in enumerate(jobs)
        for k, sl in enumerate(slices)
    }
    parts: list[list[Any]] = [[None] * len(slices) for _ in jobs]
    if not quiet:  # Ray takes seconds to start: say when the work is under way
        print(
            f"Ray ({where}): {len(futures)} batches of {len(jobs)} job(s) submitted; "
            "Ctrl-C stops and keeps what is done",
            flush=True,
        )
    progress = _progress(quiet)
    tasks = []
    if progress is not None:
        progress.start()
        tasks = [progress.add_task(_label(job, setup), total=len(setup.traces)) for job in jobs]
    pending = list(futures)
    try:
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            for ref in done:
                j, k = futures[ref]
                parts[j][k] = ray.get(ref)
                if progress is not None:
                    progress.advance(tasks[j], slices[k].stop - slices[k].start)
    except KeyboardInterrupt:
        finished = [
            _join(job.label, [p for p in parts[j] if p is not None])
            for j, job in enumerate(jobs)
            if any(p is not None for p in parts[j])
        ]
        raise Interrupted(finished) from None
    finally:
        if progress is not None:
            progress.stop()
    return [_join(job.label, parts[j]) for j, job in enumerate(jobs)]


def _join(label: str, parts: Sequence[SimResult]) -> SimResult:
    import dataclasses

    return dataclasses.replace(SimResult.concat(parts), algorithm=label)
