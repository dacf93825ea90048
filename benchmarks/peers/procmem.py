"""Peak memory of a benchmark process and its worker processes (standard library only, so the peer runner can
use it in an interpreter that has no tradeforge).

PeakMemory samples, every `interval` seconds in a background thread, the summed proportional set size (PSS:
shared pages split between the processes that share them, so forked workers are not counted twice) of this
process and all its descendants, read from /proc/PID/smaps_rollup. peak_mb is the larger of that sampled peak
and this process's own peak RSS (VmHWM, exact; start(reset=True) first sets it to the current RSS). Without
/proc (not Linux) it falls back to the peak RSS of this process plus that of its largest finished child
(getrusage).
"""

from __future__ import annotations

import contextlib
import os
import resource
import sys
import threading
from pathlib import Path

PROC = Path("/proc")


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:  # the process ended between listing and reading
        return ""


def _children(pid: int) -> list[int]:
    kids: list[int] = []
    for task in (PROC / str(pid) / "task").glob("*"):
        kids.extend(int(x) for x in _read(task / "children").split())
    return kids


def _tree(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(_children(p))
    return out


def _pss_kb(pid: int) -> int:
    for line in _read(PROC / str(pid) / "smaps_rollup").splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1])
    return 0


def own_peak_rss_mb() -> float:
    for line in _read(PROC / "self" / "status").splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    scale = 1024 * 1024 if sys.platform == "darwin" else 1024  # ru_maxrss: bytes on macOS, KiB on Linux
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / scale
    return own + resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / scale


class PeakMemory:
    """Samples the process tree's memory until stop(); peak_mb() is the highest figure seen (see the module)."""

    def __init__(self, interval: float = 0.02) -> None:
        self.interval = interval
        self.sampled_kb = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.available = (PROC / str(os.getpid()) / "smaps_rollup").exists()

    def sample(self) -> None:
        total = sum(_pss_kb(pid) for pid in _tree(os.getpid()))
        self.sampled_kb = max(self.sampled_kb, total)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()

    def start(self, reset: bool = False) -> PeakMemory:
        """Start sampling; reset: forget this process's peak RSS so far (e.g. of building the data)."""
        if reset:
            with contextlib.suppress(OSError):
                (PROC / "self" / "clear_refs").write_text("5")  # resets VmHWM to the current RSS
        if self.available:
            self.sample()
            self._thread = threading.Thread(target=self._loop, name="peak-memory", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> float:
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
            self.sample()
        return self.peak_mb()

    def peak_mb(self) -> float:
        return max(self.sampled_kb / 1024, own_peak_rss_mb())
