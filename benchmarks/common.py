"""Shared pieces of the benchmark scripts: synthetic data, timing with peak memory, JSON rows."""

from __future__ import annotations

import json
import os
import resource
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np


def random_walk(n: int, seed: int = 42) -> dict[str, np.ndarray]:
    """1-minute random walk: draws in this order, n each: log-returns N(0, 0.001), |N(0, 0.0005)| for highs,
    |N(0, 0.0005)| for lows, integers 1..1000 for volume. open = previous close, start price 100."""
    rng = np.random.default_rng(seed)
    rets = rng.normal(0.0, 0.001, n)
    up = np.abs(rng.normal(0.0, 0.0005, n))
    down = np.abs(rng.normal(0.0, 0.0005, n))
    volume = rng.integers(1, 1001, n).astype(np.float64)
    close = 100.0 * np.exp(np.cumsum(rets))
    open_ = np.empty(n)
    open_[0] = 100.0
    open_[1:] = close[:-1]
    high = np.maximum(open_, close) * (1.0 + up)
    low = np.minimum(open_, close) * (1.0 - down)
    start = np.datetime64("2020-01-01T00:00:00", "ns").astype(np.int64)
    ts = start + np.arange(n, dtype=np.int64) * 60_000_000_000
    return {"ts": ts, "open": open_, "high": high, "low": low, "close": close, "volume": volume}


def measure(func: Callable[[], Any], *, trace_memory: bool = False) -> tuple[Any, float, float]:
    """Run func once; return (its result, seconds, peak MB). Peak memory via tracemalloc when asked
    (Python allocations incl. numpy), else the process's max RSS so far."""
    if trace_memory:
        tracemalloc.start()
    t0 = time.perf_counter()
    out = func()
    seconds = time.perf_counter() - t0
    if trace_memory:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        peak_mb = peak / 2**20
    else:
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out, seconds, peak_mb


def row(
    case: str, library: str, seconds: float, units: int, peak_mb: float | None, trades: int, equity: float
) -> dict[str, Any]:
    """One JSON row; peak_mb is None when it was not measured (tracing a very long peer run is too slow)."""
    return {
        "case": case,
        "library": library,
        "seconds": round(seconds, 6),
        "per_second": round(units / seconds, 1) if seconds > 0 else None,
        "peak_mb": None if peak_mb is None else round(peak_mb, 1),
        "trades": int(trades),
        "equity": float(equity),
    }


def write_json(rows: list[dict[str, Any]], path: str | None) -> None:
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(json.dumps(rows, indent=2))
        print(f"wrote {len(rows)} rows to {os.path.abspath(path)}", file=sys.stderr)
