"""Which features an experiment computes: a built-in kind, a FeatureSet, or a user's feature function.

- "returns" (the default of `tradeforge ml grid`): pytrader's inputs, the last `datasetinputs` moves of
  `granularity` bars each (FeatureSet([Returns(datasetinputs, granularity)])).
- "default": tradeforge.ml.features.default_feature_set(datasetinputs=, granularity=): those moves plus the seed's
  factors, TA-Lib indicators and volume features.
- a FeatureSet: used as it is (datasetinputs and granularity then only shape the labels).
- a function: called as fn(bars) with, when its signature names them (or takes **kwargs), datasetinputs= and
  granularity=; it returns a FeatureSet, a DataFrame with one row per bar, or a 2-D array (n_bars, n_features).
  From the command line it is given as ``file.py:function``; the function must use bars up to t only for row t
  (`tradeforge ml check-lookahead --features file.py:function` checks it).

Rows before every column is defined (warm-up) are skipped; a NaN after the warm-up is an error (DataError), never
silently dropped. `feature_spec` describes the features for a model's metadata and `bars_feature_builder` rebuilds
them from bars for the inference API (built-in kinds only).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from tradeforge.core.bars import BarSeries
from tradeforge.core.clock import iso, parse_timeframe
from tradeforge.core.errors import ConfigError, DataError, TradeforgeError
from tradeforge.ml.features import FeatureSet, Returns, default_feature_set

FloatArray = npt.NDArray[np.float64]
FeatureSource = str | FeatureSet | Callable[..., Any]
BUILTIN_FEATURES = ("returns", "default")


def feature_set_for(kind: str, datasetinputs: int, granularity: int) -> FeatureSet:
    """The built-in feature set `kind` ("returns" or "default") for these datasetinputs and granularity."""
    if kind == "returns":
        return FeatureSet([Returns(datasetinputs, granularity)])
    if kind == "default":
        return default_feature_set(datasetinputs=datasetinputs, granularity=granularity)
    raise ConfigError(
        f"unknown feature set {kind!r}: use 'returns' (pytrader's last N moves), 'default' (moves, factors, TA "
        "and volume features) or a feature function (file.py:function on the command line)"
    )


def features_id(features: FeatureSource) -> str:
    """A stable text naming the features, for cell keys and metadata."""
    if isinstance(features, str):
        return features
    if isinstance(features, FeatureSet):
        return repr(features)
    if callable(features):
        ref = getattr(features, "tradeforge_ref", None)  # set by the service for file.py:function
        if isinstance(ref, str):
            return ref
        module = getattr(features, "__module__", None) or type(features).__module__
        name = getattr(features, "__qualname__", None) or type(features).__qualname__  # an instance: its class
        return f"{module}.{name}"
    raise ConfigError(
        f"features must be 'returns', 'default', a FeatureSet or a function of the bars, got {type(features).__name__}"
    )


def check_features(features: FeatureSource) -> None:
    """Raise ConfigError now (not mid-grid) for an unknown built-in name or a value that is no feature source."""
    if isinstance(features, str):
        feature_set_for(features, 1, 1)
    elif not isinstance(features, FeatureSet) and not callable(features):
        features_id(features)


def known_warmup(features: FeatureSource, datasetinputs: int, granularity: int) -> int | None:
    """Bars before the first complete feature row, when it is known without computing (None for a function)."""
    if isinstance(features, str):
        return feature_set_for(features, datasetinputs, granularity).warmup
    if isinstance(features, FeatureSet):
        return features.warmup
    return None


def feature_computation(features: FeatureSource, datasetinputs: int, granularity: int) -> Any:
    """What tradeforge.ml.lookahead.check_lookahead should recompute: a FeatureSet, or a function bars -> table."""
    if isinstance(features, str):
        return feature_set_for(features, datasetinputs, granularity)
    if isinstance(features, FeatureSet):
        return features
    if not callable(features):
        features_id(features)  # raises with the message

    def compute(bars: BarSeries) -> Any:
        result = _call(features, bars, datasetinputs, granularity)
        return result.compute(bars) if isinstance(result, FeatureSet) else result

    return compute


def compute_features(
    features: FeatureSource, bars: BarSeries, datasetinputs: int, granularity: int
) -> tuple[FloatArray, tuple[str, ...]]:
    """The feature matrix (n_bars, n_features), NaN during warm-up, and the column names."""
    if isinstance(features, str | FeatureSet):
        fs = feature_set_for(features, datasetinputs, granularity) if isinstance(features, str) else features
        return fs.compute_array(bars), tuple(fs.columns)
    if not callable(features):
        features_id(features)
    result = _call(features, bars, datasetinputs, granularity)
    name = features_id(features)
    if isinstance(result, FeatureSet):
        return result.compute_array(bars), tuple(result.columns)
    n = len(bars)
    if isinstance(result, pd.Series):
        result = result.to_frame(name=str(result.name) if result.name is not None else "value")
    if isinstance(result, pd.DataFrame):
        if len(result) != n:
            raise ConfigError(f"the feature function {name} returned {len(result)} rows for {n} bars: one row per bar")
        try:
            values = result.to_numpy(dtype=np.float64, na_value=np.nan)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"the feature function {name} returned non-numeric columns: {exc}") from exc
        return np.ascontiguousarray(values), tuple(str(c) for c in result.columns)
    try:
        arr = np.asarray(result, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"the feature function {name} returned {type(result).__name__}, not numbers: {exc}") from exc
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2 or arr.shape[0] != n:
        raise ConfigError(
            f"the feature function {name} returned shape {arr.shape}: return a DataFrame or an array with one row "
            f"per bar ({n})"
        )
    return np.ascontiguousarray(arr), tuple(f"f{j}" for j in range(arr.shape[1]))


def first_complete_row(X: FloatArray, columns: tuple[str, ...], bars: BarSeries, what: str) -> int:
    """The first row where every feature is defined; DataError if a feature is NaN or infinite after it (a gap
    in the features is an error, not something to skip silently) or if no row is complete."""
    finite = np.asarray(np.isfinite(X).all(axis=1), dtype=bool)
    if not finite.any():
        raise ConfigError(
            f"{what}: no bar of {bars.symbol} has every feature defined ({len(bars)} bars): the feature windows "
            "are longer than the data; load more history or use fewer inputs / a smaller granularity"
        )
    first = int(np.argmax(finite))
    bad = np.flatnonzero(~finite[first:])
    if bad.size:
        row = first + int(bad[0])
        col = int(np.flatnonzero(~np.isfinite(X[row]))[0])
        raise DataError(
            f"{what}: feature {columns[col]!r} is NaN or infinite at bar {row} ({iso(int(bars.ts[row]))}) after "
            f"its warm-up ended at bar {first}: fix the feature function or the bars (gaps), or fill the value"
        )
    return first


def feature_spec(
    features: FeatureSource, datasetinputs: int, granularity: int, columns: tuple[str, ...]
) -> dict[str, Any]:
    """How the model's features were made, for the registry's metadata (and bars_feature_builder)."""
    kind = features if isinstance(features, str) else "custom"
    spec: dict[str, Any] = {
        "kind": kind,
        "datasetinputs": int(datasetinputs),
        "granularity": int(granularity),
        "columns": list(columns),
        "source": features_id(features),
    }
    if isinstance(features, str):
        spec["warmup"] = feature_set_for(features, datasetinputs, granularity).warmup
    return spec


def bars_feature_builder(frame: pd.DataFrame, meta: Mapping[str, Any]) -> pd.DataFrame:
    """The inference API's feature builder (tradeforge.ml.serve.FeatureBuilder) for models whose metadata holds
    a built-in feature spec (what `tradeforge ml automl` saves): recent bars in, their feature rows out."""
    spec = meta.get("features")
    if not isinstance(spec, Mapping) or spec.get("kind") not in BUILTIN_FEATURES:
        raise ConfigError(
            "this model's features are not a built-in feature set ('returns' or 'default'), so the server cannot "
            "rebuild them from bars: send 'features' instead"
        )
    try:
        fs = feature_set_for(str(spec["kind"]), int(spec["datasetinputs"]), int(spec["granularity"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise DataError(f"the model's feature spec is incomplete ({exc!r}): save the model again") from exc
    index = pd.DatetimeIndex(frame.index)
    ts = index.tz_convert("UTC").as_unit("ns").asi8 if index.tz is not None else index.as_unit("ns").asi8
    timeframe = meta.get("timeframe")
    if isinstance(timeframe, str):
        tf = parse_timeframe(timeframe)
    elif len(ts) > 1:
        tf = int(np.min(np.diff(ts)))
    else:
        tf = 60_000_000_000
    column = {c: frame[c].to_numpy(np.float64) for c in ("open", "high", "low", "close", "volume")}
    series = BarSeries.from_arrays(
        str(meta.get("symbol") or "bars"),
        tf,
        ts,
        column["open"],
        column["high"],
        column["low"],
        column["close"],
        column["volume"],
    )
    return fs.compute(series)


def _call(fn: Callable[..., Any], bars: BarSeries, datasetinputs: int, granularity: int) -> Any:
    kwargs = _accepted(fn, {"datasetinputs": datasetinputs, "granularity": granularity})
    try:
        return fn(bars, **kwargs)
    except TradeforgeError:
        raise
    except Exception as exc:  # the user's code: name it, keep the cause
        raise ConfigError(
            f"the feature function {features_id(fn)} failed: {type(exc).__name__}: {exc}; it is called as "
            f"fn(bars{''.join(f', {k}={v}' for k, v in kwargs.items())})"
        ) from exc


def _accepted(fn: Callable[..., Any], offered: dict[str, int]) -> dict[str, int]:
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return {}
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return dict(offered)
    return {k: v for k, v in offered.items() if k in params}
