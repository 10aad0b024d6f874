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
