"""CPU time of a child process tree, for "stops within N s of SIGINT" checks.

On a machine shared by many jobs, the wall time a process takes to stop is mostly waiting for
a core; the CPU time its tree spends after the signal is the work of stopping, whatever the
load. Usage::

    meter = StopMeter(proc)      # right after Popen: nothing else of ours is reaped meanwhile
    ...
    meter.signal(signal.SIGINT)  # snapshot of the tree's CPU time, then the signal
    proc.communicate(...)        # the process (and the children it reaped) ended
    meter.cpu_after_s()          # CPU seconds the tree spent after the signal
"""

from __future__ import annotations

import os
import resource
import subprocess
import threading
import time
from pathlib import Path


def tree_cpu_s(pid: int) -> float:
    """User + system CPU seconds used so far by ``pid`` and all its descendants (``/proc``)."""
    tick = os.sysconf("SC_CLK_TCK")
    total, todo = 0.0, [pid]
    while todo:
        p = todo.pop()
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick  # utime, stime
            for task in Path(f"/proc/{p}/task").iterdir():
                todo.extend(int(c) for c in (task / "children").read_text().split())
        except (FileNotFoundError, ProcessLookupError):
            continue  # it ended meanwhile: its time is counted when its parent reaps it
    return total


def reaped_cpu_s() -> float:
    """CPU seconds of this process's children that ended and were waited for (and theirs)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


class StopMeter:
    """Measures what a child process does after a signal: CPU seconds and wall seconds."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.proc = proc
        self._reaped_before = reaped_cpu_s()
        self._at_signal = 0.0
        self._sent = 0.0

    def signal(self, signum: int) -> None:
        """Send ``signum`` after noting the tree's CPU time and the time."""
        self._at_signal = tree_cpu_s(self.proc.pid)
        self._sent = time.monotonic()
        self.proc.send_signal(signum)

    def wall_s(self) -> float:
        """Seconds since the signal."""
        return time.monotonic() - self._sent

    def cpu_after_s(self) -> float:
        """CPU seconds the tree spent after the signal (call once the process was reaped).

        Children the process did not wait for are not counted.
        """
        return reaped_cpu_s() - self._reaped_before - self._at_signal


def own_cpu_s(pid: int) -> float | None:
    """User + system CPU seconds of ``pid`` alone (``None`` once it was reaped)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class OwnCpuWatcher:
    """CPU time of one process alone after a signal, for processes whose helpers it does not
    reap (Ray's services): a thread reads ``/proc`` every 10 ms until the process is reaped
    (a zombie keeps its totals until then), so at most 10 ms of the end is missed."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.proc = proc
        self._at_signal = 0.0
        self._last = 0.0
        self._sent = 0.0
        self._thread: threading.Thread | None = None

    def _watch(self) -> None:
        while (value := own_cpu_s(self.proc.pid)) is not None:
            self._last = value
            time.sleep(0.01)

    def signal(self, signum: int) -> None:
        """Send ``signum`` after noting the process's CPU time, and start watching."""
        self._at_signal = self._last = own_cpu_s(self.proc.pid) or 0.0
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()
        self._sent = time.monotonic()
        self.proc.send_signal(signum)

    def wall_s(self) -> float:
        """Seconds since the signal."""
        return time.monotonic() - self._sent

    def cpu_after_s(self) -> float:
        """CPU seconds the process spent after the signal (call once it was reaped)."""
        if self._thread is not None:
            self._thread.join(5.0)
        return self._last - self._at_signal
