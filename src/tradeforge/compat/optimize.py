"""Backtest.optimize: grid, random and Bayesian (Optuna) parameter search, on local worker processes.

Every combination is an independent, deterministic run, so the workers return exactly what a serial run
would; results are collected in the grid's order whichever worker finished first.
"""

from __future__ import annotations

import math
import multiprocessing
import os
import warnings
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from itertools import product
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from tradeforge.compat.errors import CompatTypeError, CompatValueError

if TYPE_CHECKING:
    from tradeforge.compat.backtest import Backtest

# The Backtest a worker process runs, handed over by fork when the pool starts (never pickled).
_WORKER_STATE: dict[str, Any] = {}

STAT_KEYS_HINT = "e.g. 'SQN', 'Return [%]', 'Sharpe Ratio', 'Equity Final [$]'"


class AttrDict(dict):  # type: ignore[type-arg]
    """Parameters given to a constraint: ``p.n1 < p.n2`` as well as ``p["n1"]``."""

    def __getattr__(self, item: str) -> Any:
        try:
            return self[item]
        except KeyError:
            raise AttributeError(f"no parameter {item!r}; parameters: {list(self)}") from None


@dataclass(frozen=True, eq=False)  # eq=False: funv is an array; results compare by identity
class OptimizeResult:
    """What ``optimize(method="sambo"/"bayes", return_optimization=True)`` returns as its last element: the fields
    of Backtesting.py's (sambo's) OptimizeResult, with the objective NEGATED as a minimizer reports it, plus the
    Optuna study that did the search.

    x: the best parameter values (in the order they were given to optimize); fun: -(best objective), so
    ``-result.fun == heatmap.max()``; xv: every evaluated combination, in evaluation order; funv: their negated
    objectives (a float array; NaN where the run made no trades, like the heatmap); nit: Optuna trials asked
    (including rejected and repeated combinations); nfev: backtests run (distinct combinations). Any other
    attribute (``best_value``, ``trials_dataframe()``, ...) is looked up on `study`.
    """

    x: list[Any]
    fun: float
    xv: list[list[Any]]
    funv: np.ndarray
    nit: int
    nfev: int
    success: bool
    message: str
    study: Any

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or name == "study":  # copy/pickle probe dunders before the fields exist
            raise AttributeError(name)
        try:
            return getattr(self.study, name)
        except AttributeError:
            raise AttributeError(
                f"OptimizeResult has no attribute {name!r} (fields: x, fun, xv, funv, nit, nfev, success, message, "
                "study; other names are looked up on the Optuna study)"
            ) from None


def _values(name: str, v: Any) -> tuple[Any, ...]:
    values = tuple(v) if isinstance(v, Sequence) and not isinstance(v, str) else (v,)
    if isinstance(v, (range, np.ndarray, pd.Index)):
        values = tuple(v)
    if not values:
        raise CompatValueError(f"Optimization variable '{name}' is passed no optimization values: {name}={v}")
    return values


def _maximize_func(
    maximize: str | Callable[[pd.Series], float],
) -> tuple[Callable[[pd.Series], float], str | None]:
    """(objective, heatmap name): the statistic's key, or None for a function (as Backtesting.py names it)."""
    if isinstance(maximize, str):
        from tradeforge.metrics import BACKTESTING_KEYS

        if maximize not in BACKTESTING_KEYS:
            raise CompatValueError(
                f"maximize={maximize!r} is not a statistic of backtest.run(); use one of its keys ({STAT_KEYS_HINT}) "
                "or a function stats -> number"
            )
        key = maximize

        def by_key(stats: pd.Series) -> float:
            return float(stats.get(key, np.nan))

        return by_key, key
    if callable(maximize):
        return maximize, None
    raise CompatTypeError(
        "maximize must be a str (a key of backtest.run()'s result) or a function that takes the result Series and "
        "returns a number (higher is better)"
    )


def _worker_init(state: dict[str, Any]) -> None:
    _WORKER_STATE.clear()
    _WORKER_STATE.update(state)


def _worker_run(batch: list[dict[str, Any]]) -> list[tuple[float, bool]]:
    bt = _WORKER_STATE["bt"]
    maximize = _WORKER_STATE["maximize"]
    out = []
    for params in batch:
        stats = bt.run(**params)
        out.append((float(maximize(stats)), bool(stats["# Trades"])))
    return out


def _batches(items: list[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    for k in range(0, len(items), size):
        yield items[k : k + size]


def _evaluate(
    bt: Backtest, combos: list[dict[str, Any]], maximize: Callable[[pd.Series], float], workers: int, label: str
) -> list[tuple[float, bool]]:
    """maximize(stats) and whether it traded, for each combination, in order."""
    from tradeforge.compat._progress import progress_bar

    results: list[tuple[float, bool]] = []
    with progress_bar(len(combos), label) as advance:
        if workers <= 1 or len(combos) < 4 or "fork" not in multiprocessing.get_all_start_methods():
            _worker_init({"bt": bt, "maximize": maximize})
            try:
                for params in combos:
                    results.extend(_worker_run([params]))
                    advance(1)
            finally:
                _WORKER_STATE.clear()
            return results
        size = max(1, min(16, math.ceil(len(combos) / (workers * 4))))
        context = multiprocessing.get_context("fork")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # fork with threads: our workers only compute
            with ProcessPoolExecutor(
                max_workers=workers,
                mp_context=context,
                initializer=_worker_init,
                initargs=({"bt": bt, "maximize": maximize},),
            ) as pool:
                for batch_result in pool.map(_worker_run, _batches(combos, size)):
                    results.extend(batch_result)
                    advance(len(batch_result))
    return results


def optimize(
    bt: Backtest,
    *,
    maximize: str | Callable[[pd.Series], float] = "SQN",
    method: str = "grid",
    max_tries: int | float | None = None,
    constraint: Callable[[AttrDict], bool] | None = None,
    return_heatmap: bool = False,
    return_optimization: bool = False,
    random_state: int | None = None,
    workers: int | None = None,
    **kwargs: Any,
) -> Any:
    if not kwargs:
        raise CompatValueError("Need some strategy parameters to optimize, e.g. optimize(n1=range(5, 30, 5))")
    declared = {k for k in dir(bt._strategy) if not k.startswith("_")}
    unknown = sorted(k for k in kwargs if k not in declared)
    if unknown:
        from tradeforge.compat.errors import UnknownParameterError

        raise UnknownParameterError(
            f"Strategy '{bt._strategy.__name__}' is missing parameter(s) {unknown}: declare them as class variables"
        )
    objective, key = _maximize_func(maximize)
    if constraint is not None and not callable(constraint):
        raise CompatTypeError(
            "constraint must be a function that takes the parameters (p.n1, p.n2, ...) and returns whether the "
            "combination is admissible"
        )
    admissible = constraint or (lambda _: True)
    ranges = method in ("skopt", "sambo")  # Backtesting.py's model-based search: numbers give a range
    if method == "skopt":
        warnings.warn(
            'Backtest.optimize(method="skopt") is deprecated (as in Backtesting.py). Use method="sambo" (the same '
            'search: numeric values give a range from their min to their max) or method="bayes" (only the '
            "values given).",
            DeprecationWarning,
            stacklevel=3,
        )
    if ranges:
        method = "bayes"
    if method not in ("grid", "random", "bayes"):
        raise CompatValueError(
            f"method must be 'grid', 'random' or 'bayes' (Optuna; Backtesting.py's 'sambo' runs it too), not {method!r}"
        )
    if return_optimization and method != "bayes":
        raise CompatValueError("return_optimization=True is only valid with method='bayes' (or 'sambo')")
    grid = {k: _values(k, v) for k, v in kwargs.items()}
    names = list(grid)
    n_workers = max(1, workers if workers is not None else (os.cpu_count() or 1))

    def all_combos() -> Iterator[dict[str, Any]]:
        for values in product(*grid.values()):
            params = dict(zip(names, values, strict=True))
            if admissible(AttrDict(params)):
                yield params

    if method == "bayes":
        return _optimize_bayes(
            bt, grid, admissible, objective, key, max_tries, random_state, return_heatmap, return_optimization, ranges
        )
    rand = np.random.default_rng(random_state).random
    if method == "grid":
        if max_tries is None:
            combos = list(all_combos())
        else:
            size = _grid_size(grid, admissible)
            frac = max_tries if 0 < max_tries <= 1 else max_tries / size
            combos = [p for p in all_combos() if rand() <= frac]
    else:  # random: exactly max_tries distinct admissible combinations (or all of them)
        everything = list(all_combos())
        count = len(everything)
        if max_tries is None:
            take = min(count, 100)
        elif 0 < max_tries <= 1:
            take = max(1, int(max_tries * count))
        else:
            take = min(count, int(max_tries))
        chosen: list[int] = (
            np.random.default_rng(random_state).choice(count, size=take, replace=False).tolist() if count else []
        )
        combos = [everything[i] for i in sorted(chosen)]
    if not combos:
        raise CompatValueError("No admissible parameter combinations to test: check the ranges and the constraint")
    scores = _evaluate(bt, combos, objective, n_workers, "Backtest.optimize")
    index = pd.MultiIndex.from_tuples([tuple(p.values()) for p in combos], names=names)
    heatmap = pd.Series([s if traded else np.nan for s, traded in scores], index=index, name=key, dtype=float)
    if heatmap.isnull().all():
        stats = bt.run(**combos[0])
    else:
        best = heatmap.idxmax(skipna=True)
        stats = bt.run(**dict(zip(names, best if isinstance(best, tuple) else (best,), strict=True)))
    return (stats, heatmap) if return_heatmap else stats


def _domain(values: tuple[Any, ...]) -> tuple[str, Any, Any] | None:
    """A numeric parameter's range for method="sambo": ("int", lo, hi) or ("float", lo, hi); None otherwise."""
    if len(values) < 2 or any(isinstance(v, (bool, np.bool_)) for v in values):
        return None
    if all(isinstance(v, (int, np.integer)) for v in values):
        return "int", int(min(values)), int(max(values))
    if all(isinstance(v, (int, float, np.integer, np.floating)) for v in values):
        return "float", float(min(values)), float(max(values))
    return None


def _grid_size(grid: dict[str, tuple[Any, ...]], admissible: Callable[[AttrDict], bool]) -> int:
    size = int(np.prod([len(v) for v in grid.values()]))
    if size < 10_000:
        names = list(grid)
        size = sum(1 for values in product(*grid.values()) if admissible(AttrDict(zip(names, values, strict=True))))
    return max(size, 1)


def _optimize_bayes(
    bt: Backtest,
    grid: dict[str, tuple[Any, ...]],
    admissible: Callable[[AttrDict], bool],
    objective: Callable[[pd.Series], float],
    key: str | None,
    max_tries: int | float | None,
    random_state: int | None,
    return_heatmap: bool,
    return_optimization: bool,
    ranges: bool = False,
) -> Any:
    """Optuna's TPE sampler. Each parameter is categorical over the values given; with `ranges` (method="sambo",
    as Backtesting.py's sambo search reads them) integers give every integer from their min to their max and
    floats the interval between, other values stay categorical. Repeated combinations are not re-run."""
    import optuna

    from tradeforge.compat._progress import progress_bar

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    domains = {name: _domain(values) if ranges else None for name, values in grid.items()}
    given = _grid_size(grid, admissible)  # a fraction of tries counts the combinations of the values given
    size = given
    if any(d is not None for d in domains.values()):
        counts = [len(v) if d is None else math.inf if d[0] == "float" else d[2] - d[1] + 1
                  for v, d in zip(grid.values(), domains.values(), strict=True)]  # fmt: skip
        size = max(1, int(min(math.prod(counts), 2**62)))
    tries = 200 if max_tries is None else max(1, int(max_tries * given)) if 0 < max_tries <= 1 else int(max_tries)
    tries = min(tries, size)
    names = list(grid)
    seen: dict[tuple[Any, ...], float] = {}
    sampler = optuna.samplers.TPESampler(seed=random_state)
    study = optuna.create_study(direction="maximize", sampler=sampler)

    def suggest(trial: optuna.Trial, name: str, values: tuple[Any, ...]) -> Any:
        domain = domains[name]
        if domain is None:
            return trial.suggest_categorical(name, list(values))
        if domain[0] == "int":
            return trial.suggest_int(name, domain[1], domain[2])
        return trial.suggest_float(name, domain[1], domain[2])

    attempts = 0
    with progress_bar(tries, "Backtest.optimize (bayes)") as advance:
        while len(seen) < tries and attempts < tries * 20:
            attempts += 1
            trial = study.ask()
            params = {name: suggest(trial, name, values) for name, values in grid.items()}
            combo = tuple(params.values())
            if not admissible(AttrDict(params)):
                study.tell(trial, state=optuna.trial.TrialState.PRUNED)
                continue
            if combo in seen:
                value = seen[combo]
            else:
                stats = bt.run(**params)
                raw = float(objective(stats))
                value = raw if stats["# Trades"] else float("nan")
                seen[combo] = value
                advance(1)
            study.tell(trial, value if math.isfinite(value) else -1e300)
    if not seen:
        raise CompatValueError("No admissible parameter combinations to test: check the ranges and the constraint")
    heatmap = pd.Series(
        list(seen.values()), index=pd.MultiIndex.from_tuples(list(seen), names=names), name=key, dtype=float
    ).sort_index()
    if heatmap.isnull().all():
        best_params = dict(zip(names, next(iter(seen)), strict=True))
    else:
        best: Any = heatmap.idxmax(skipna=True)
        best_params = dict(zip(names, best, strict=True))
    stats = bt.run(**best_params)
    output: list[Any] = [stats]
    if return_heatmap:
        output.append(heatmap)
    if return_optimization:
        best_value = float(heatmap.max())  # NaN when no combination traded
        output.append(
            OptimizeResult(
                x=list(best_params.values()),
                fun=-best_value,
                xv=[list(combo) for combo in seen],
                funv=-np.array(list(seen.values()), dtype=float),
                nit=attempts,
                nfev=len(seen),
                success=not heatmap.isnull().all(),
                message=f"{len(seen)} combinations evaluated in {attempts} Optuna trials",
                study=study,
            )
        )
    return stats if len(output) == 1 else tuple(output)
