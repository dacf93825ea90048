"""AutoML: an Optuna search over model families, their hyperparameters and the feature-set choices, scored out of
sample by a fitness the user picks (default: the Sortino ratio of the fee-aware backtest of the predictions).

    result = automl(load_sample("BTC-PERP"), fitness="sortino", trials=50, timeout=600,
                    registry=ModelRegistry("models"), name="btc-automl")
    result.summary(); result.trials.head(); result.ref   # "btc-automl@1"

Each trial picks a family (tradeforge.ml.models.search_space gives its hyperparameters), a granularity (label
horizon), a number of lagged moves (datasetinputs), a training window and a feature set, then runs the same
walk-forward as a grid cell (tradeforge.ml.experiments_cell): every trial is scored on the same out-of-sample
bars. After each fold it reports the fitness so far, and Optuna's MedianPruner stops trials that trail the median
of earlier ones at the same fold. The search is seeded (TPESampler(seed)): with --trials and no --timeout it is
reproducible. A time budget (`timeout`, seconds) stops new trials after it and cuts a running one at its next
fold (recorded as pruned).

The best configuration is refitted on the latest training window (the `window` most recent labelled bars) and
saved to the ModelRegistry with its features spec, label definition, training window, data hash and out-of-sample
metrics. Fitness values that are undefined (a model that never trades has no Sortino ratio) count as 0; infinite
ones (a profit factor without a losing trade) are capped at +/-1e6.
"""

from __future__ import annotations

import contextlib
import json
import math
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import optuna
import pandas as pd
from threadpoolctl import threadpool_limits

from tradeforge.core.bars import BarSeries
from tradeforge.core.clock import format_timeframe, iso
from tradeforge.core.errors import ConfigError, TradeforgeError
from tradeforge.metrics.overfitting import deflated_sharpe_ratio
from tradeforge.ml.experiments_cell import (
    CellData,
    OOSPlan,
    TradeSettings,
    backtest_predictions,
    classification_metrics,
    fit_predict,
    plan_oos,
    prepare_cell,
    walk_forward_folds,
)
from tradeforge.ml.experiments_features import BUILTIN_FEATURES, feature_set_for, feature_spec
from tradeforge.ml.models import MODEL_NAMES, Model, get_spec, make_model, search_space
from tradeforge.ml.registry import ModelRegistry

__all__ = ["FITNESS", "AutoMLResult", "SearchSpace", "automl"]

FITNESS = {
    "sortino": "sortino",
    "sharpe": "sharpe",
    "accuracy": "accuracy",
    "profit_factor": "profit_factor",
    "return": "total_return",
}
"""Fitness name -> the out-of-sample metric it maximizes."""
_CAP = 1e6
_SHOWN = ("accuracy", "sortino", "sharpe", "total_return", "profit_factor", "max_drawdown", "n_trades", "fees_paid",
          "buy_hold_return")  # fmt: skip
Progress = Callable[[int, int | None], None]


@dataclass(frozen=True)
class SearchSpace:
    """The choices a study searches besides each family's hyperparameters."""

    models: Sequence[str] = MODEL_NAMES
    granularities: Sequence[int] = (5, 15, 60)
    datasetinputs: Sequence[int] = (2, 3, 5, 8, 10)
    windows: Sequence[int] = (2_000, 5_000, 10_000)
    features: Sequence[str] = ("returns", "default")

    def check(self) -> None:
        if isinstance(self.models, str) or not self.models:
            raise ConfigError("models must be a list of zoo names, e.g. ('Naive Bayes', 'LightGBM')")
        names = [get_spec(m).name for m in self.models]  # unknown names raise here
        if len(set(names)) != len(names):
            raise ConfigError(f"model families listed twice: {names}")
        for label, values in (
            ("granularities", self.granularities),
            ("datasetinputs", self.datasetinputs),
            ("windows", self.windows),
        ):
            if not values or any(isinstance(v, bool) or not isinstance(v, int) or v < 1 for v in values):
                raise ConfigError(f"{label} must be a non-empty list of whole numbers >= 1, got {list(values)}")
        if not self.features or any(f not in BUILTIN_FEATURES for f in self.features):
            raise ConfigError(f"features must be chosen among {list(BUILTIN_FEATURES)}, got {list(self.features)}")


@dataclass
class AutoMLResult:
    """The study, its best configuration and out-of-sample metrics, every trial as a table (best first), the
    best model refitted on the latest window, its registry metadata and reference (None without a registry)."""

    study: optuna.Study
    fitness: str
    best_value: float
    best_config: dict[str, Any]
    best_metrics: dict[str, Any]
    trials: pd.DataFrame
    model: Model
    metadata: dict[str, Any]
    ref: str | None = None
    counts: dict[str, int] = field(default_factory=dict)

    def summary(self) -> list[tuple[str, str]]:
        """The best trial as (label, text) pairs for a table."""
        m = self.best_metrics
        cfg = self.best_config
        rows = [
            ("trials", ", ".join(f"{v} {k}" for k, v in self.counts.items())),
            ("fitness", f"{self.fitness} = {self.best_value:.4g} (out of sample)"),
            ("best trial", f"#{cfg['trial']}"),
            ("model", f"{cfg['model']} {json.dumps(cfg['params'], default=str)}"),
            ("features", f"{cfg['features']}, datasetinputs={cfg['datasetinputs']}, granularity={cfg['granularity']}"),
            ("training window", f"{cfg['window']} bars, retrained every {cfg['step']} bars"),
            ("out-of-sample bars", f"{m['n_oos']:,} ({m['oos_start']} .. {m['oos_end']})"),
            ("accuracy", f"{m['accuracy']:.2%}"),
            ("return (after fees)", f"{m['total_return']:.2%} vs buy & hold {m['buy_hold_return']:.2%}"),
            ("Sortino / Sharpe (ann.)", f"{m['sortino']:.3f} / {m['sharpe']:.3f}"),
            ("max drawdown", f"{m['max_drawdown']:.2%}"),
            ("trades / fees paid", f"{m['n_trades']:,} / {m['fees_paid']:,.2f}"),
            ("deflated Sharpe ratio", f"{m['dsr']:.3f} over {m['n_trials']} trials (significant above 0.95)"),
        ]
        if self.ref is not None:
            rows.append(("saved as", self.ref))
        return rows


def automl(
    bars: BarSeries,
    *,
    symbol: str | None = None,
    space: SearchSpace | None = None,
    fitness: str = "sortino",
    trials: int | None = None,
    timeout: float | None = None,
    seed: int = 0,
    fees: float = 0.001,
    threshold: float | None = None,
    step: int | None = None,
    sell: str = "short",
    hold: str = "keep",
    cash: float = 10_000.0,
    registry: ModelRegistry | None = None,
    name: str = "automl",
    progress: Progress | None = None,
) -> AutoMLResult:
    """Search for the model and features that maximize `fitness` out of sample on `bars`; refit the best on the
    latest window and, with a registry, save it as the next version of `name`.

    fitness: "sortino" (default), "sharpe", "accuracy", "profit_factor" or "return". trials and/or timeout
    (seconds) bound the search; at least one is required. step: bars per walk-forward test block (default a
    quarter of the longest window). fees, threshold, sell, hold, cash: as in a grid cell
    (tradeforge.ml.experiments_cell). progress(finished trials, total or None)."""
    space = space or SearchSpace()
    space.check()
    metric = _fitness_metric(fitness)
    if trials is None and timeout is None:
        raise ConfigError("give a budget: trials (a number of trials) and/or timeout (seconds)")
    if trials is not None and (isinstance(trials, bool) or not isinstance(trials, int) or trials < 1):
        raise ConfigError(f"trials must be a whole number >= 1, got {trials!r}")
    if timeout is not None and not timeout > 0:
        raise ConfigError(f"timeout must be a positive number of seconds, got {timeout!r}")
    settings = TradeSettings(fees, sell, hold, cash)
    block = step if step is not None else max(1, max(space.windows) // 4)
    plan = _common_plan(bars, space, block)
    symbol = symbol or bars.symbol
    deadline = None if timeout is None else time.monotonic() + float(timeout)
    models = [get_spec(m).name for m in space.models]

    def objective(trial: optuna.Trial) -> float:
        family = trial.suggest_categorical("model", models)
        params = search_space(family, trial)
        g = int(trial.suggest_categorical("granularity", list(space.granularities)))
        k = int(trial.suggest_categorical("datasetinputs", list(space.datasetinputs)))
        w = int(trial.suggest_categorical("window", list(space.windows)))
        kind = str(trial.suggest_categorical("features", list(space.features)))
        trial.set_user_attr("hyperparameters", _plain(params))
        try:
            with threadpool_limits(limits=1):
                metrics = _run_trial(trial, bars, plan, settings, family, params, g, k, w, kind, metric, deadline,
                                     fees, threshold)  # fmt: skip
        except TradeforgeError as exc:
            trial.set_user_attr("error", f"{type(exc).__name__}: {exc}")
            raise
        trial.set_user_attr("metrics", _plain(metrics))
        return _finite(metrics[metric])

    def report(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        if progress is not None:
            progress(len(study.trials), trials)

    sampler = optuna.samplers.TPESampler(seed=seed)
    pruner = optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=1)
    if progress is not None:
        progress(0, trials)
    with _quiet_optuna():
        study = optuna.create_study(direction="maximize", sampler=sampler, pruner=pruner, study_name=f"automl-{symbol}")
        study.optimize(objective, n_trials=trials, timeout=timeout, catch=(TradeforgeError, ValueError),
                       callbacks=[report])  # fmt: skip
    table = trials_frame(study)
    counts = {s: int((table["state"] == s).sum()) for s in ("COMPLETE", "PRUNED", "FAIL")} if len(table) else {}
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    if not complete:
        errors = [str(t.user_attrs["error"]) for t in study.trials if "error" in t.user_attrs]
        hint = f" First error: {errors[0]}" if errors else ""
        raise ConfigError(
            f"no trial finished ({counts.get('PRUNED', 0)} pruned or cut by the time budget, {counts.get('FAIL', 0)} "
            f"failed): give more trials or a longer timeout, or smaller windows.{hint}"
        )
    best = study.best_trial
    config = _config_of(best, block)
    best_metrics = dict(best.user_attrs["metrics"])
    best_metrics.update(_deflated(best_metrics, complete, counts))
    model, meta, X, y = _refit(bars, symbol, config, settings, threshold, best, best_metrics, metric, counts, seed)
    ref = None
    if registry is not None:
        version = registry.save(name, model, meta, training_data=(X, y))
        ref = f"{name}@{version}"
    return AutoMLResult(study, fitness, float(study.best_value), config, best_metrics, table, model, meta, ref,
                        {k.lower(): v for k, v in counts.items()})  # fmt: skip


def _deflated(
    best: dict[str, Any], complete: Sequence[optuna.trial.FrozenTrial], counts: dict[str, int]
) -> dict[str, Any]:
    """The best trial's deflated Sharpe ratio: n_trials counts every configuration tried (finished or pruned);
    the variance of the per-bar Sharpe ratios is taken over the finished trials."""
    srs = np.array([float(t.user_attrs["metrics"]["sharpe_bar"]) for t in complete])
    srs = srs[np.isfinite(srs)]
    variance = float(np.var(srs, ddof=1)) if srs.size >= 2 else 0.0
    n_trials = max(1, counts.get("COMPLETE", 0) + counts.get("PRUNED", 0))
    res = deflated_sharpe_ratio(
        sharpe=float(best["sharpe_bar"]), n_obs=int(best["n_obs"]), skew=float(best["skew"]),
        kurtosis=float(best["kurtosis"]), n_trials=n_trials, trials_sharpe_variance=variance,
    )  # fmt: skip
    return {"dsr": res.dsr, "dsr_benchmark": res.expected_max_sharpe, "n_trials": n_trials}


def _fitness_metric(fitness: str) -> str:
    key = str(fitness).lower().replace("-", "_")
    if key not in FITNESS:
        raise ConfigError(f"unknown fitness {fitness!r}: use one of {', '.join(FITNESS)}")
    return FITNESS[key]


def _common_plan(bars: BarSeries, space: SearchSpace, step: int) -> OOSPlan:
    """The out-of-sample bars every trial is scored on: from where the longest choice fits."""
    last = len(bars) - 1 - max(space.granularities)
    need = 0
    for kind in space.features:
        for g in space.granularities:
            for k in space.datasetinputs:
                need = max(need, feature_set_for(kind, int(k), int(g)).warmup + int(g) + max(space.windows))
    return plan_oos(bars, need, last, step)


def _run_trial(
    trial: optuna.Trial, bars: BarSeries, plan: OOSPlan, settings: TradeSettings, family: str,
    params: dict[str, Any], g: int, k: int, w: int, kind: str, metric: str, deadline: float | None,
    fees: float, threshold: float | None,
) -> dict[str, Any]:  # fmt: skip
    cell = prepare_cell(bars, kind, k, g, fees=fees, threshold=threshold)
    folds = list(walk_forward_folds(cell, w, plan))
    idx: list[np.ndarray] = []
    preds: list[np.ndarray] = []
    for j, (train, test) in enumerate(folds):
        model = make_model(family, calibrate=False, **params)
        preds.append(fit_predict(model, cell, train, test, f"walk-forward fold {j + 1}/{len(folds)}"))
        idx.append(test)
        if j == len(folds) - 1:
            break
        so_far = _metrics(cell, OOSPlan(plan.start, int(test[-1]) + 1, plan.step), idx, preds, settings)
        trial.report(_finite(so_far[metric]), j)
        if trial.should_prune():
            raise optuna.TrialPruned(f"pruned at fold {j + 1}/{len(folds)}")
        if deadline is not None and time.monotonic() > deadline:
            trial.set_user_attr("stopped", "time budget")
            raise optuna.TrialPruned(f"the time budget ran out at fold {j + 1}/{len(folds)}")
    return _metrics(cell, plan, idx, preds, settings)


def _metrics(
    cell: CellData, plan: OOSPlan, idx: list[np.ndarray], preds: list[np.ndarray], settings: TradeSettings
) -> dict[str, Any]:
    bar_idx = np.concatenate(idx)
    y_pred = np.concatenate(preds)
    out = classification_metrics(cell.labels.label[bar_idx], y_pred)
    out.update(backtest_predictions(cell.bars, plan, bar_idx, y_pred, settings).stats)
    out.update({"n_oos": int(bar_idx.size), "oos_start": iso(int(cell.bars.ts[plan.start])),
                "oos_end": iso(int(cell.bars.ts[plan.stop - 1]))})  # fmt: skip
    return out


def _config_of(trial: optuna.trial.FrozenTrial, step: int) -> dict[str, Any]:
    p = trial.params
    return {
        "trial": trial.number,
        "model": p["model"],
        "params": dict(trial.user_attrs.get("hyperparameters", {})),
        "granularity": int(p["granularity"]),
        "datasetinputs": int(p["datasetinputs"]),
        "window": int(p["window"]),
        "features": str(p["features"]),
        "step": step,
    }


def _refit(
    bars: BarSeries, symbol: str, config: dict[str, Any], settings: TradeSettings, threshold: float | None,
    best: optuna.trial.FrozenTrial, best_metrics: dict[str, Any], metric: str, counts: dict[str, int], seed: int,
) -> tuple[Model, dict[str, Any], pd.DataFrame, np.ndarray]:  # fmt: skip
    """The best configuration fitted on the latest `window` labelled bars, with its registry metadata."""
    cell = prepare_cell(bars, config["features"], config["datasetinputs"], config["granularity"],
                        fees=settings.fees, threshold=threshold)  # fmt: skip
    stop = len(bars) - cell.horizon  # bars [0, stop) have a known label
    start = stop - config["window"]
    if start < cell.first_valid:
        raise ConfigError(f"the latest training window of {config['window']} bars starts before the features do")
    rows = np.arange(start, stop)
    index = pd.DatetimeIndex(bars.ts[rows].astype("datetime64[ns]"), name="timestamp").tz_localize("UTC")
    X = pd.DataFrame(cell.X[rows], index=index, columns=list(cell.columns))
    y = cell.labels.label[rows].astype(np.int64)
    with threadpool_limits(limits=1):
        model = make_model(config["model"], calibrate=False, **config["params"])
        model.fit(X, y, classes=(-1, 0, 1))
    metrics = dict(best_metrics)
    metrics.update({"fitness": metric, "fitness_value": float(best.value or 0.0)})
    meta: dict[str, Any] = {
        "description": (
            f"AutoML best of {sum(counts.values())} trials on {symbol}: {config['model']}, out-of-sample "
            f"{metric} {float(best.value or 0.0):.4g}"
        ),
        "symbol": symbol,
        "timeframe": format_timeframe(bars.timeframe),
        "features": feature_spec(config["features"], config["datasetinputs"], config["granularity"], cell.columns),
        "label": {
            "type": "horizon",
            "horizon": cell.horizon,
            "fee_rate": settings.fees,
            "threshold": cell.threshold,
            "classes": {"1": "buy", "0": "hold", "-1": "sell"},
            "definition": "ret = close[t + horizon] / close[t] - 1; buy if ret > threshold, sell if < -threshold",
        },
        "train_start": iso(int(bars.ts[start])),
        "train_end": iso(int(bars.ts[stop - 1])),
        "metrics": metrics,
        "tags": ["automl", metric],
        "extra": {
            "search": {"trial": best.number, "seed": seed, "counts": counts, "params": dict(best.params)},
            "walk_forward": {
                "window": config["window"],
                "step": config["step"],
                "oos_start": metrics.get("oos_start"),
                "oos_end": metrics.get("oos_end"),
            },
            "trading": {"fees": settings.fees, "sell": settings.sell, "hold": settings.hold, "cash": settings.cash},
        },
    }
    return model, meta, X, y


def trials_frame(study: optuna.Study) -> pd.DataFrame:
    """One row per trial, best first: number, state, value, the choices, the hyperparameters (JSON), the main
    out-of-sample metrics, the fold it was pruned at, seconds and any error."""
    rows = []
    for t in study.trials:
        metrics = t.user_attrs.get("metrics", {})
        steps = sorted(t.intermediate_values)
        rows.append({
            "number": t.number,
            "state": t.state.name,
            "value": t.value,
            "model": t.params.get("model"),
            "features": t.params.get("features"),
            "granularity": t.params.get("granularity"),
            "datasetinputs": t.params.get("datasetinputs"),
            "window": t.params.get("window"),
            "params": json.dumps(t.user_attrs.get("hyperparameters", {}), sort_keys=True, default=str),
            **{k: metrics.get(k) for k in _SHOWN},
            "folds_reported": len(steps),
            "seconds": t.duration.total_seconds() if t.duration is not None else None,
            "error": t.user_attrs.get("error") or t.user_attrs.get("stopped"),
        })  # fmt: skip
    frame = pd.DataFrame(rows)
    if frame.empty:
        return frame
    frame["_complete"] = frame["state"] == "COMPLETE"  # finished trials first: a pruned one's value is partial
    frame = frame.sort_values(["_complete", "value", "number"], ascending=[False, False, True], na_position="last")
    return frame.drop(columns="_complete").reset_index(drop=True)


def _finite(value: Any) -> float:
    v = float(value) if value is not None else math.nan
    if math.isnan(v):
        return 0.0
    return max(-_CAP, min(_CAP, v))


def _plain(values: dict[str, Any]) -> dict[str, Any]:
    """JSON-compatible values for Optuna's user attributes (tuples to lists, numpy to Python, NaN kept)."""

    def plain(v: Any) -> Any:
        if isinstance(v, np.generic):
            return v.item()
        if isinstance(v, list | tuple):
            return [plain(x) for x in v]
        if isinstance(v, dict):
            return {str(a): plain(b) for a, b in v.items()}
        return v

    return {str(k): plain(v) for k, v in values.items()}


@contextlib.contextmanager
def _quiet_optuna() -> Iterator[None]:
    """Optuna logs every trial (and each failed one with its traceback); tradeforge shows a progress bar, the
    summary and the trials table (with each failure's error) instead."""
    level = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    try:
        yield
    finally:
        optuna.logging.set_verbosity(level)
