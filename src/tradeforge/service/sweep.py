"""The sweep and walk-forward use cases behind `tradeforge sweep` and `tradeforge walkforward`."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tradeforge.core.errors import ConfigError
from tradeforge.research.executors import Executor, make_executor
from tradeforge.research.library import SIGNALS
from tradeforge.research.signals import SignalFunction
from tradeforge.research.sweep import SweepResult, sweep
from tradeforge.research.walkforward import WalkForwardResult, walk_forward
from tradeforge.service.backtest import load_data
from tradeforge.service.strategy_loader import import_user_file

Progress = Callable[[int, int], None]


def load_signal_function(ref: str) -> SignalFunction:
    """A built-in name (sma_cross, ema_cross_long, rsi_reversion, breakout) or 'file.py:function'."""
    if ref in SIGNALS:
        return SIGNALS[ref]
    path_text, sep, name = ref.partition(":")
    path = Path(path_text)
    if path.suffix != ".py" or not sep or not name:
        raise ConfigError(
            f"unknown signal function {ref!r}: use a built-in one ({', '.join(sorted(SIGNALS))}) or "
            "file.py:function, a function(bars, **params) returning Signals"
        )
    if not path.is_file():
        raise ConfigError(f"signal file {path} does not exist")
    module = import_user_file(path)
    fn: SignalFunction | None = getattr(module, name, None)
    if fn is None or not callable(fn):
        found = [k for k, v in vars(module).items() if callable(v) and not k.startswith("_")]
        raise ConfigError(f"{path} has no function {name!r}; it has: {', '.join(found) or 'none'}")
    return fn


def parse_values(text: str) -> list[Any]:
    """'5:50:5' -> 5, 10, ..., 50 (the stop included); '0.1:0.3:0.1' -> floats; '5,10,20' -> a list; '7' -> [7]."""
    text = text.strip()
    if ":" in text:
        parts = text.split(":")
        if len(parts) != 3:
            raise ConfigError(f"a range is START:STOP:STEP (STOP included), e.g. 5:50:5; got {text!r}")
        nums = [_number(p, text) for p in parts]
        start, stop, step = nums
        if step <= 0 or stop < start:
            raise ConfigError(f"range {text!r} must have STEP > 0 and STOP >= START")
        if all(isinstance(x, int) for x in nums):
            return list(range(int(start), int(stop) + 1, int(step)))
        count = math.floor((stop - start) / step + 1e-9) + 1
        return [round(start + i * step, 12) for i in range(count)]
    return [_number(p, text) for p in text.split(",") if p.strip()]


def _number(part: str, whole: str) -> int | float:
    try:
        return int(part)
    except ValueError:
        try:
            return float(part)
        except ValueError as exc:
            raise ConfigError(f"{part!r} in {whole!r} is not a number") from exc


def parse_grid(items: list[str]) -> dict[str, list[Any]]:
    """['fast=5:50:5', 'slow=20,50,100'] -> {'fast': [...], 'slow': [...]}."""
    grid: dict[str, list[Any]] = {}
    for item in items:
        name, sep, values = item.partition("=")
        name = name.strip()
        if not sep or not name or not values.strip():
            raise ConfigError(f"--param {item!r}: write NAME=START:STOP:STEP, NAME=A,B,C or NAME=VALUE")
        if name in grid:
            raise ConfigError(f"--param {name} is given twice")
        grid[name] = parse_values(values)
    return grid


def make_constraint(expression: str | None, names: list[str]) -> Callable[..., Any] | None:
    """'fast < slow' -> a function of the parameter arrays (numpy available as np)."""
    if expression is None or not expression.strip():
        return None
    try:
        code = compile(expression, "<constraint>", "eval")
    except SyntaxError as exc:
        raise ConfigError(f"cannot read the constraint {expression!r}: {exc.msg}") from exc
    unknown = [n for n in code.co_names if n not in names and n != "np"]
    if unknown:
        raise ConfigError(f"the constraint uses {', '.join(unknown)}, which are not parameters ({', '.join(names)})")

    def constraint(**arrays: Any) -> Any:
        return np.asarray(eval(code, {"__builtins__": {}, "np": np}, arrays))

    return constraint


@dataclass
class SweepJob:
    signals: str
    data: str
    params: list[str]
    constraint: str | None = None
    objective: str = "sharpe"
    minimize: bool = False
    split: str | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    workers: int | None = None
    cluster: str | None = None
    out_dir: Path | None = None
    tz: str | None = None
    store: Path | None = None


def _executor(workers: int | None, cluster: str | None) -> Executor:
    if cluster is not None and workers is not None:
        raise ConfigError("give either --workers (local processes) or --cluster (a Dask scheduler), not both")
    if cluster is not None:
        return make_executor(cluster)
    return make_executor(workers)


def _split(text: str | None) -> float | str | None:
    if text is None:
        return None
    try:
        return float(text)
    except ValueError:
        return text


def run_sweep_job(job: SweepJob, progress: Progress | None = None) -> tuple[SweepResult, dict[str, Path]]:
    fn = load_signal_function(job.signals)
    bars, _ = load_data(job.data, job.tz, job.store)
    grid = parse_grid(job.params)
    if not grid:
        raise ConfigError("give at least one --param NAME=START:STOP:STEP to sweep")
    executor = _executor(job.workers, job.cluster)
    try:
        result = sweep(
            fn, bars, grid, constraint=make_constraint(job.constraint, list(grid)), objective=job.objective,
            maximize=not job.minimize, split=_split(job.split), executor=executor, progress=progress, **job.settings,
        )  # fmt: skip
    finally:
        close = getattr(executor, "close", None)
        if callable(close):
            close()
    files: dict[str, Path] = {}
    if job.out_dir is not None:
        job.out_dir.mkdir(parents=True, exist_ok=True)
        files["stats"] = job.out_dir / "sweep.csv"
        result.stats.to_csv(files["stats"], index=False)
        names = list(grid)
        varying = [n for n in names if len(grid[n]) > 1]
        if len(varying) >= 2:
            files["heatmap"] = job.out_dir / "heatmap.html"
            result.heatmap(varying[0], varying[1], files["heatmap"])
        files["summary"] = job.out_dir / "summary.json"
        summary = {
            "data": job.data, "signals": job.signals, "best": result.best, "objective": result.objective,
            "summary": dict(result.summary()), "overfitting": _jsonable(result.overfitting),
            "executor": result.executor,
        }  # fmt: skip
        files["summary"].write_text(json.dumps(summary, indent=2))
    return result, files


@dataclass
class WalkForwardJob:
    signals: str
    data: str
    params: list[str]
    train: int
    test: int
    mode: str = "rolling"
    constraint: str | None = None
    objective: str = "sharpe"
    minimize: bool = False
    settings: dict[str, Any] = field(default_factory=dict)
    workers: int | None = None
    cluster: str | None = None
    out_dir: Path | None = None
    tz: str | None = None
    store: Path | None = None


def run_walkforward_job(
    job: WalkForwardJob, progress: Progress | None = None
) -> tuple[WalkForwardResult, dict[str, Path]]:
    fn = load_signal_function(job.signals)
    bars, _ = load_data(job.data, job.tz, job.store)
    grid = parse_grid(job.params)
    executor = _executor(job.workers, job.cluster)
    try:
        result = walk_forward(
            fn, bars, grid, train=job.train, test=job.test, mode=job.mode,
            constraint=make_constraint(job.constraint, list(grid)), objective=job.objective,
            maximize=not job.minimize, executor=executor, progress=progress, **job.settings,
        )  # fmt: skip
    finally:
        close = getattr(executor, "close", None)
        if callable(close):
            close()
    files: dict[str, Path] = {}
    if job.out_dir is not None:
        job.out_dir.mkdir(parents=True, exist_ok=True)
        files["folds"] = job.out_dir / "folds.csv"
        result.table().to_csv(files["folds"], index=False)
        files["equity"] = job.out_dir / "oos_equity.csv"
        result.equity.to_csv(files["equity"])
        files["report"] = result.plot(job.out_dir / "walkforward.html")
    return result, files


def _jsonable(d: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        if isinstance(v, np.generic):
            v = v.item()
        if isinstance(v, float) and not math.isfinite(v):
            v = None
        out[k] = v
    return out
