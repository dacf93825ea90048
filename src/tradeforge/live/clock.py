"""Clocks for the live runner: the wall clock, and clocks tests and rehearsals control.

The engine itself never reads a clock: its time is the open time of the step it runs. A live runner reads one to
know which bars have closed, to date its heartbeats and to stamp the run's start and stop. Every clock satisfies
``tradeforge.core.ports.Clock`` (``now() -> int`` ns UTC). None is created at import: build one and pass it in.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from tradeforge.core.clock import iso
from tradeforge.core.errors import ConfigError


class WallClock:
    """The system's real time (UTC), in int ns."""

    def now(self) -> int:
        return time.time_ns()

    def __repr__(self) -> str:
        return "WallClock()"


class ManualClock:
    """A clock that moves only when told to (tests). Thread-safe: the runner reads it from worker threads."""

    def __init__(self, start: int) -> None:
        self._now = int(start)
        self._lock = threading.Lock()

    def now(self) -> int:
        with self._lock:
            return self._now

    def set(self, ts: int) -> None:
        with self._lock:
            if ts < self._now:
                raise ConfigError(f"a clock cannot go back: it is {iso(self._now)}, asked for {iso(ts)}")
            self._now = int(ts)

    def advance(self, ns: int) -> None:
        if ns < 0:
            raise ConfigError(f"a clock cannot go back: advance() takes ns >= 0, got {ns}")
        with self._lock:
            self._now += int(ns)

    def __repr__(self) -> str:
        return f"ManualClock({iso(self.now())})"


class FunctionClock:
    """A clock read from a function returning int ns UTC, e.g. an exchange simulator's time:
    ``FunctionClock(lambda: sim.now_ms * 1_000_000)``."""

    def __init__(self, read: Callable[[], int]) -> None:
        if not callable(read):
            raise ConfigError(f"FunctionClock needs a function returning int ns UTC, got {read!r}")
        self._read = read

    def now(self) -> int:
        return int(self._read())

    def __repr__(self) -> str:
        return f"FunctionClock({self._read!r})"
