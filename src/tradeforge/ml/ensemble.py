"""Weighted ensembles of classifiers: pytrader's `predictor_configs` as a vote with a confidence threshold.

    config = EnsembleConfig(
        members=[
            {"type": "Naive Bayes", "weight": 2, "granularity": 3, "datasetinputs": 2, "train_window": 1000},
            {"type": "Decision Tree", "weight": 1, "granularity": 1, "datasetinputs": 5},
        ],
        method="mean", threshold=0.5,
    )
    ensemble = Ensemble(config).fit(bars)
    classes, confidence = ensemble.predict(bars)      # 1 buy, -1 sell, 0 hold per bar

Each member is one model family (`type`, a name from the model zoo) with its own inputs: the last `datasetinputs`
moves of `granularity` bars (or the default feature set), labels over `granularity` bars, trained on the last
`train_window` bars of its own `symbol`. Every member gives probabilities for sell / hold / buy; the ensemble
combines them by weight, either as the weighted mean of the probabilities (method "mean") or as a weighted majority
vote of each member's most likely class (method "vote", the confidence of a class being the weight share of the
members that voted for it). The winning class is the output only when its combined confidence passes the threshold,
otherwise the output is hold. A tie for the top score is hold.

Thresholds everywhere in tradeforge.ml mean the same (`passes_threshold`): a value passes when it is at least the
threshold; 0 lets everything pass and 1 lets nothing pass.
"""

from __future__ import annotations

import copy
import difflib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from tradeforge.core.bars import BarSeries
from tradeforge.core.clock import parse_timeframe
from tradeforge.core.errors import ConfigError, DataError
from tradeforge.ml.features import FeatureSet, Returns, default_feature_set
from tradeforge.ml.labels import Labels, horizon_labels, triple_barrier_labels
from tradeforge.ml.models import Model, make_model
from tradeforge.ml.zoo import get_spec

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

SELL, HOLD, BUY = -1, 0, 1
CLASSES: tuple[int, int, int] = (SELL, HOLD, BUY)
"""The column order of every probability array here (the sorted classes, as the zoo's models order them)."""
METHODS = ("mean", "vote")
LABELS = ("horizon", "triple_barrier")
FEATURES = ("returns", "default")
_HOLD_COL = 1
_REQUIRED = ("type", "weight", "granularity", "datasetinputs")
_PYTRADER_KEYS = frozenset({"type", "name", "symbol", "weight", "granularity", "datasetinputs", "minutes_back"})


def passes_threshold(value: float, threshold: float) -> bool:
    """Whether a probability or confidence passes a threshold: value >= threshold, except that 0 passes everything
    (NaN included) and 1 passes nothing."""
    if threshold <= 0.0:
        return True
    if threshold >= 1.0:
        return False
    return bool(value >= threshold)


def check_probability(name: str, value: object) -> float:
    """value as a float in [0, 1], or a ConfigError naming the setting."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0.0 <= float(value) <= 1.0:
        raise ConfigError(f"{name} must be a probability in [0, 1] (0: everything passes, 1: nothing), got {value!r}")
    return float(value)


def check_whole(name: str, value: object, minimum: int = 1) -> int:
    """value as an int >= minimum, or a ConfigError naming the setting."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or int(value) < minimum:
        raise ConfigError(f"{name} must be a whole number >= {minimum}, got {value!r}")
    return int(value)


@dataclass(frozen=True)
class MemberConfig:
    """One predictor of an ensemble (a pytrader predictor_config).

    type: the model family (a zoo name such as "Naive Bayes" or its alias); weight: > 0, its say in the vote;
    granularity: bars per input move and the label horizon; datasetinputs: how many past moves it sees; name: a
    label unique in the ensemble (default built from the others); symbol: the bars it reads (None: the traded ones);
    train_window: bars it is trained on (the most recent ones); params: the model's hyperparameters; features:
    "returns" (pytrader's inputs: the last `datasetinputs` moves), "default" (default_feature_set with those moves)
    or a FeatureSet; calibrate: passed to make_model."""

    type: str
    weight: float
    granularity: int
    datasetinputs: int
    name: str = ""
    symbol: str | None = None
    train_window: int = 1000
    params: Mapping[str, Any] = field(default_factory=dict)
    features: str | FeatureSet = "returns"
    calibrate: bool | None = None

    def __post_init__(self) -> None:
        label = self.name or (self.type if isinstance(self.type, str) else repr(self.type))
        where = f"ensemble member {label!r}"
        if not isinstance(self.type, str) or not self.type:
            raise ConfigError(f"{where}: type must be a model name such as 'Naive Bayes', got {self.type!r}")
        try:
            spec = get_spec(self.type)
        except ConfigError as exc:
            raise ConfigError(f"{where}: {exc}") from None
        w = self.weight
        if isinstance(w, bool) or not isinstance(w, int | float) or not math.isfinite(w) or w <= 0:
            raise ConfigError(f"{where}: weight must be a number > 0, got {w!r}; drop the member to give it no say")
        for key in ("granularity", "datasetinputs", "train_window"):
            try:
                object.__setattr__(self, key, check_whole(key, getattr(self, key)))
            except ConfigError as exc:
                raise ConfigError(f"{where}: {exc}") from None
        if self.train_window <= self.granularity + 1:
            raise ConfigError(
                f"{where}: train_window {self.train_window} leaves no labelled bar with granularity "
                f"{self.granularity}: the last {self.granularity} bars of a window have no label yet; use a longer "
                "train_window"
            )
        if not isinstance(self.name, str):
            raise ConfigError(f"{where}: name must be a string, got {self.name!r}")
        if self.symbol is not None and (not isinstance(self.symbol, str) or not self.symbol):
            raise ConfigError(f"{where}: symbol must be a symbol such as 'ETH-BTC' or None, got {self.symbol!r}")
        if not isinstance(self.params, Mapping):
            raise ConfigError(f"{where}: params must be a mapping of hyperparameters, got {self.params!r}")
        if not (isinstance(self.features, FeatureSet) or self.features in FEATURES):
            raise ConfigError(f"{where}: features must be 'returns', 'default' or a FeatureSet, got {self.features!r}")
        if self.calibrate is not None and not isinstance(self.calibrate, bool):
            raise ConfigError(f"{where}: calibrate must be True, False or None, got {self.calibrate!r}")
        try:
            make_model(spec.name, calibrate=self.calibrate, **dict(self.params))
        except ConfigError as exc:
            raise ConfigError(f"{where}: {exc}") from None
        object.__setattr__(self, "type", spec.name)
        object.__setattr__(self, "weight", float(w))
        object.__setattr__(self, "params", dict(self.params))
        if not self.name:
            where_sym = f" {self.symbol}" if self.symbol else ""
            object.__setattr__(self, "name", f"{spec.name}{where_sym} / {self.granularity} x {self.datasetinputs}")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, where: str = "ensemble member") -> MemberConfig:
        """A member from a dict (JSON, YAML): unknown keys and missing required keys are ConfigErrors."""
        if not isinstance(data, Mapping):
            raise ConfigError(f"{where} must be a mapping with keys {', '.join(_REQUIRED)}, got {data!r}")
        allowed = [f.name for f in fields(cls)]
        unknown = [k for k in data if k not in allowed]
        if unknown:
            hints = []
            for key in unknown:
                if key == "minutes_back":
                    hints.append("'minutes_back' (pytrader's: use train_window, in bars, or from_pytrader)")
                    continue
                close = difflib.get_close_matches(str(key), allowed, n=1)
                hints.append(f"{key!r} (did you mean {close[0]!r}?)" if close else repr(key))
            raise ConfigError(f"{where}: unknown key(s) {', '.join(hints)}; the keys are {', '.join(allowed)}")
        missing = [k for k in _REQUIRED if k not in data]
        if missing:
            raise ConfigError(f"{where} lacks {', '.join(missing)}: every member needs {', '.join(_REQUIRED)}")
        return cls(**dict(data))

    def feature_set(self) -> FeatureSet:
        """The member's inputs."""
        if isinstance(self.features, FeatureSet):
            return self.features
        if self.features == "default":
            return default_feature_set(datasetinputs=self.datasetinputs, granularity=self.granularity)
        return FeatureSet([Returns(self.datasetinputs, self.granularity)])


@dataclass(frozen=True)
class EnsembleConfig:
    """members: MemberConfigs (or dicts for MemberConfig.from_dict); method: "mean" (weighted mean of the
    probabilities) or "vote" (weighted majority vote); threshold: the winning class's combined confidence must pass
    it, else hold; labels: "horizon" (buy / sell / hold over `granularity` bars) or "triple_barrier" (barriers at 2
    standard deviations, the vertical one `granularity` bars ahead); fee_rate: a move must beat the round trip
    2 * fee_rate to be buy or sell, unless label_threshold (horizon labels) is given; on_missing_class: "raise" (a
    class absent from a training window is an error) or "zero" (it gets probability 0)."""

    members: Sequence[MemberConfig | Mapping[str, Any]]
    method: str = "mean"
    threshold: float = 0.5
    labels: str = "horizon"
    fee_rate: float = 0.001
    label_threshold: float | None = None
    on_missing_class: str = "raise"

    def __post_init__(self) -> None:
        if isinstance(self.members, Mapping | str) or not isinstance(self.members, Sequence) or not self.members:
            raise ConfigError("an ensemble needs a non-empty list of members (MemberConfig or dicts)")
        members = tuple(
            m if isinstance(m, MemberConfig) else MemberConfig.from_dict(m, where=f"ensemble member {k}")
            for k, m in enumerate(self.members)
        )
        names = [m.name for m in members]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ConfigError(f"ensemble members need distinct names; {repeated} appear more than once: set name=")
        object.__setattr__(self, "members", members)
        if self.method not in METHODS:
            raise ConfigError(f"method must be 'mean' (weighted mean of probabilities) or 'vote', got {self.method!r}")
        object.__setattr__(self, "threshold", check_probability("threshold", self.threshold))
        if self.labels not in LABELS:
            raise ConfigError(f"labels must be 'horizon' or 'triple_barrier', got {self.labels!r}")
        for key, value in (("fee_rate", self.fee_rate), ("label_threshold", self.label_threshold)):
            if value is None and key == "label_threshold":
                continue
            if isinstance(value, bool) or not isinstance(value, int | float) or not 0.0 <= float(value) < 1.0:
                raise ConfigError(f"{key} must be a fraction in [0, 1) (0.001 = 0.1%), got {value!r}")
        if self.label_threshold is not None and self.labels == "triple_barrier":
            raise ConfigError("label_threshold applies to labels='horizon'; triple-barrier labels use fee_rate")
        if self.on_missing_class not in ("raise", "zero"):
            raise ConfigError(f"on_missing_class must be 'raise' or 'zero', got {self.on_missing_class!r}")

    @property
    def member_configs(self) -> tuple[MemberConfig, ...]:
        return tuple(m for m in self.members if isinstance(m, MemberConfig))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> EnsembleConfig:
        """From a dict such as {"members": [...], "method": "vote", "threshold": 0.6}; unknown keys are errors."""
        if not isinstance(data, Mapping):
            raise ConfigError(f"an ensemble config must be a mapping with a 'members' list, got {data!r}")
        allowed = [f.name for f in fields(cls)]
        unknown = [k for k in data if k not in allowed]
        if unknown:
            hint = " (pytrader's list: use EnsembleConfig.from_pytrader)" if "predictor_configs" in unknown else ""
            raise ConfigError(f"unknown ensemble key(s) {unknown}{hint}; the keys are {', '.join(allowed)}")
        if "members" not in data:
            raise ConfigError("an ensemble config needs 'members': a list of member dicts")
        return cls(**dict(data))

    @classmethod
    def from_pytrader(
        cls,
        predictor_configs: Sequence[Mapping[str, Any]],
        *,
        timeframe: str = "1m",
        symbols: Mapping[str, str] | None = None,
        **settings: Any,
    ) -> EnsembleConfig:
        """pytrader's trade.py predictor_configs, as written there: 'type' is 'classifier' (then 'name' is the
        model) or 'nn' (a neural net named 'name'); 'granularity' and 'minutes_back' are minutes, turned into bars
        of `timeframe`; `symbols` renames pytrader's pairs (e.g. {"BTC_ETH": "ETH-BTC"}). Repeated names get #2, #3.
        settings: the other EnsembleConfig fields."""
        bar_minutes = parse_timeframe(timeframe) / 60e9
        members: list[MemberConfig] = []
        names: list[str] = []
        for k, item in enumerate(predictor_configs):
            where = f"predictor_configs[{k}]"
            if not isinstance(item, Mapping):
                raise ConfigError(f"{where} must be a dict, got {item!r}")
            unknown = sorted(set(item) - _PYTRADER_KEYS)
            if unknown:
                raise ConfigError(f"{where}: unknown key(s) {unknown}; pytrader's keys are {sorted(_PYTRADER_KEYS)}")
            missing = [key for key in ("type", "weight", "granularity", "datasetinputs") if key not in item]
            if missing:
                raise ConfigError(f"{where} lacks {', '.join(missing)}")
            kind, label = item["type"], str(item.get("name", ""))
            if kind == "classifier":
                model = label
            elif kind == "nn":
                model = "Neural Net"
            else:
                raise ConfigError(f"{where}: pytrader's type is 'classifier' or 'nn', got {kind!r}")
            symbol = item.get("symbol")
            symbol = (symbols or {}).get(symbol, symbol) if isinstance(symbol, str) else symbol
            name = label if kind == "nn" and label else f"{model} {symbol or ''} / {item['datasetinputs']}".strip()
            base, index = name, 2
            while name in names:
                name = f"{base} #{index}"
                index += 1
            names.append(name)
            extra: dict[str, Any] = {}
            if "minutes_back" in item:
                extra["train_window"] = _bars(f"{where}: minutes_back", item["minutes_back"], bar_minutes)
            members.append(
                MemberConfig(
                    type=model,
                    weight=item["weight"],
                    granularity=_bars(f"{where}: granularity", item["granularity"], bar_minutes),
                    datasetinputs=item["datasetinputs"],
                    name=name,
                    symbol=symbol,
                    **extra,
                )
            )
        return cls(members=members, **settings)


def _bars(what: str, minutes: object, bar_minutes: float) -> int:
    if isinstance(minutes, bool) or not isinstance(minutes, int | float) or minutes <= 0:
        raise ConfigError(f"{what} must be a positive number of minutes, got {minutes!r}")
    bars = float(minutes) / bar_minutes
    if bars < 1 or abs(bars - round(bars)) > 1e-9:
        raise ConfigError(f"{what} = {minutes} minutes is not a whole number of {bar_minutes:g}-minute bars")
    return round(bars)


# ------------------------------------------------------------------------------------------- combining votes
def _top(scores: FloatArray) -> IntArray:
    """Column of the highest score per row; a tie for the top (within rounding) is the hold column."""
    best = np.argmax(scores, axis=1)
    top = scores[np.arange(scores.shape[0]), best]
    ties = (np.abs(scores - top[:, None]) <= 1e-12 * (1.0 + np.abs(top[:, None]))).sum(axis=1) > 1
    return np.where(ties, _HOLD_COL, best).astype(np.int64)


def combined_scores(probas: npt.ArrayLike, weights: npt.ArrayLike, method: str = "mean") -> FloatArray:
    """The combined confidence of sell / hold / buy per row, shape (n, 3), from probas of shape (members, n, 3)
    (columns in CLASSES order) and one weight per member. "mean": sum_m w_m p_m / sum_m w_m; "vote": the weight
    share of the members whose most likely class it is (a member's tie for the top is a hold vote). A row where
    any member has a non-finite probability is NaN."""
    p = np.asarray(probas, dtype=np.float64)
    w = np.asarray(weights, dtype=np.float64)
    if p.ndim != 3 or p.shape[2] != len(CLASSES) or w.shape != (p.shape[0],):
        raise ConfigError(
            f"probas must have shape (members, rows, 3) with one weight per member; got {p.shape} and {w.shape}"
        )
    if np.any(~np.isfinite(w)) or np.any(w <= 0):
        raise ConfigError(f"weights must be finite and > 0, got {w.tolist()}")
    if method not in METHODS:
        raise ConfigError(f"method must be 'mean' or 'vote', got {method!r}")
    valid = np.isfinite(p).all(axis=(0, 2))
    total = float(w.sum())
    if method == "mean":
        scores = np.tensordot(w, np.nan_to_num(p), axes=1) / total
    else:
        scores = np.zeros(p.shape[1:], dtype=np.float64)
        rows = np.arange(p.shape[1])
        for m in range(p.shape[0]):
            scores[rows, _top(np.nan_to_num(p[m]))] += w[m]
        scores /= total
    scores[~valid] = np.nan
    return scores


def decide(scores: npt.ArrayLike, threshold: float) -> tuple[IntArray, FloatArray]:
    """(classes, confidence) from combined scores (n, 3): the top class when its score passes the threshold, else
    hold; confidence is the top score (the number compared with the threshold), NaN where the scores are."""
    s = np.asarray(scores, dtype=np.float64)
    t = check_probability("threshold", threshold)
    valid = np.isfinite(s).all(axis=1)
    col = _top(np.nan_to_num(s))
    conf = np.where(valid, s[np.arange(s.shape[0]), col], np.nan)
    if t <= 0.0:
        ok = valid
    elif t >= 1.0:
        ok = np.zeros(s.shape[0], dtype=bool)
    else:
        ok = valid & (conf >= t)
    classes = np.where(ok, np.asarray(CLASSES, dtype=np.int64)[col], HOLD).astype(np.int64)
    return classes, conf


def combine(
    probas: npt.ArrayLike, weights: npt.ArrayLike, *, method: str = "mean", threshold: float = 0.5
) -> tuple[IntArray, FloatArray]:
    """The ensemble's decision from its members' probabilities: decide(combined_scores(...), threshold)."""
    return decide(combined_scores(probas, weights, method), threshold)


# ------------------------------------------------------------------------------------------------- members
@dataclass(frozen=True)
class TrainingWindow:
    """What one member was trained on: samples first..last (bar indices, inclusive) of `symbol`, whose labels use
    bars up to last + horizon = stop - 1; rows: samples with finite features; counts: samples per class."""

    member: str
    symbol: str
    first: int
    last: int
    stop: int
    horizon: int
    rows: int
    counts: dict[int, int]


class EnsembleMember:
    """A member's model and inputs. `template`: an unfitted Model to copy for each fit instead of make_model."""

    def __init__(self, config: MemberConfig, template: Model | None = None) -> None:
        self.config = config
        self.feature_set = config.feature_set()
        self._template = template
        self.model: Model | None = None
        self.window: TrainingWindow | None = None

    def __repr__(self) -> str:
        return f"EnsembleMember({self.config.name!r}, weight={self.config.weight:g}, fitted={self.model is not None})"

    @property
    def name(self) -> str:
        return self.config.name

    def new_model(self) -> Model:
        if self._template is not None:
            return copy.deepcopy(self._template)
        cfg = self.config
        return make_model(cfg.type, calibrate=cfg.calibrate, **dict(cfg.params))

    def fit(
        self,
        bars: BarSeries,
        features: npt.ArrayLike,
        *,
        offset: int = 0,
        labels: str = "horizon",
        fee_rate: float = 0.001,
        label_threshold: float | None = None,
        on_missing_class: str = "raise",
    ) -> TrainingWindow:
        """Train on `bars` (the training window: every bar in it is in the past) and their feature rows. Labels
        are computed from these bars only, and the last `granularity` samples, whose outcome lies beyond the
        window, are left out. offset: the index of bars[0] in the full history (for the TrainingWindow)."""
        h = self.config.granularity
        X = np.asarray(features, dtype=np.float64)
        n = len(bars)
        if X.shape != (n, len(self.feature_set.columns)):
            raise DataError(f"member {self.name!r}: {X.shape} feature rows for {n} bars; compute them on these bars")
        if n <= h + 1:
            raise ConfigError(
                f"member {self.name!r}: a training window of {n} bars leaves no labelled sample with a horizon of "
                f"{h} bars; give it more history"
            )
        lab: Labels
        if labels == "triple_barrier":
            lab = triple_barrier_labels(bars, h, fee_rate=fee_rate)
        else:
            lab = horizon_labels(bars, h, fee_rate=fee_rate, threshold=label_threshold)
        keep = lab.labelled & (np.arange(n) <= n - 1 - h) & np.isfinite(X).all(axis=1)
        if not keep.any():
            raise DataError(
                f"member {self.name!r}: no sample in its {n}-bar training window has both a label and every "
                f"feature (features need {self.feature_set.warmup} bars of history): use a longer window or start later"
            )
        y = lab.label[keep].astype(np.int64)
        model = self.new_model()
        try:
            model.fit(
                X[keep],
                y,
                classes=CLASSES,
                on_missing_class=on_missing_class,  # type: ignore[arg-type]  # validated by EnsembleConfig
                feature_names=self.feature_set.columns,
            )
        except DataError as exc:
            span = f"bars {offset}..{offset + n - 1}"
            raise DataError(f"ensemble member {self.name!r} (training window of {span}): {exc}") from exc
        self.model = model
        values, counts = np.unique(y, return_counts=True)
        self.window = TrainingWindow(
            self.name,
            bars.symbol,
            offset,
            offset + n - 1 - h,
            offset + n,
            h,
            int(keep.sum()),
            {int(v): int(c) for v, c in zip(values, counts, strict=True)},
        )
        return self.window

    def predict_proba(self, features: Any) -> FloatArray:
        """Probabilities (n, 3) in CLASSES order; a row with a non-finite feature is NaN."""
        if self.model is None:
            raise ConfigError(f"member {self.name!r} is not trained yet: call Ensemble.fit(bars) first")
        if isinstance(features, pd.DataFrame):
            names = list(self.model.feature_names or ())
            missing = [c for c in names if c not in features.columns]
            if missing:
                raise DataError(f"member {self.name!r}: the feature rows lack columns {missing}; it needs {names}")
            features = features[names]
        X = np.asarray(features, dtype=np.float64)
        if X.ndim == 1:
            X = X.reshape(1, -1)
        out = np.full((X.shape[0], len(CLASSES)), np.nan)
        ok = np.isfinite(X).all(axis=1)
        if ok.any():
            out[ok] = self.model.predict_proba(X[ok])
        return out


# ------------------------------------------------------------------------------------------------ ensemble
Data = BarSeries | Mapping[str, BarSeries]


class Ensemble:
    """A weighted vote of members; fit(bars) trains each on its own window, predict(bars) -> (classes, confidence).

    config: an EnsembleConfig, a dict for EnsembleConfig.from_dict, or a list of member dicts. templates: member
    name -> an unfitted Model to use for that member instead of make_model(type, **params)."""

    def __init__(
        self,
        config: EnsembleConfig | Mapping[str, Any] | Sequence[MemberConfig | Mapping[str, Any]],
        *,
        templates: Mapping[str, Model] | None = None,
    ) -> None:
        if isinstance(config, EnsembleConfig):
            self.config = config
        elif isinstance(config, Mapping):
            self.config = EnsembleConfig.from_dict(config)
        else:
            self.config = EnsembleConfig(members=config)
        templates = dict(templates or {})
        unknown = sorted(set(templates) - {m.name for m in self.config.member_configs})
        if unknown:
            raise ConfigError(f"templates name unknown members {unknown}")
        self.members = tuple(EnsembleMember(m, templates.get(m.name)) for m in self.config.member_configs)
        self.weights = np.array([m.config.weight for m in self.members], dtype=np.float64)

    def __repr__(self) -> str:
        names = ", ".join(f"{m.name} ({m.config.weight:g})" for m in self.members)
        return f"Ensemble({self.config.method}, threshold={self.config.threshold:g}: {names})"

    def fresh(self) -> Ensemble:
        """An untrained copy with the same config and templates."""
        templates = {m.name: m._template for m in self.members if m._template is not None}
        return Ensemble(self.config, templates=templates)

    @property
    def is_fitted(self) -> bool:
        return all(m.model is not None for m in self.members)

    @property
    def windows(self) -> list[TrainingWindow]:
        """Each trained member's last training window."""
        return [m.window for m in self.members if m.window is not None]

    def fit(self, data: Data, *, on: str | None = None) -> Ensemble:
        """Train every member on the last train_window bars of its symbol in `data` (a BarSeries, or symbol ->
        BarSeries when members read different symbols; members without a symbol read `on`, default the first
        member's symbol, else the first series); returns self."""
        cache: dict[tuple[str, str], FloatArray] = {}
        cfg = self.config
        timeline = self._timeline(data, on)
        for member in self.members:
            bars = self._bars(member, data, default=timeline)
            X = self._features(member, bars, cache)
            n = len(bars)
            first = max(0, n - member.config.train_window)
            member.fit(
                bars.slice(first, n),
                X[first:n],
                offset=first,
                labels=cfg.labels,
                fee_rate=cfg.fee_rate,
                label_threshold=cfg.label_threshold,
                on_missing_class=cfg.on_missing_class,
            )
        return self

    def member_probabilities(self, data: Data | Mapping[str, Any], *, on: str | None = None) -> dict[str, FloatArray]:
        """Each member's probabilities (n, 3) on the rows of the timeline: the bars of `on` (default: the first
        member's symbol, else the first series), or, given feature rows per member name, those rows. A member on
        another symbol contributes its latest bar that closed by the close of each timeline bar."""
        if not self.is_fitted:
            raise ConfigError("the ensemble is not trained yet: call fit(bars) first")
        if isinstance(data, Mapping) and data and not any(isinstance(v, BarSeries) for v in data.values()):
            return self._from_features(data)
        timeline = self._timeline(data, on)
        cache: dict[tuple[str, str], FloatArray] = {}
        out: dict[str, FloatArray] = {}
        for member in self.members:
            bars = self._bars(member, data, default=timeline)
            proba = member.predict_proba(self._features(member, bars, cache))
            if bars is not timeline:
                closes = bars.ts + bars.timeframe
                pos = np.searchsorted(closes, timeline.ts + timeline.timeframe, side="right") - 1
                aligned = np.full((len(timeline), len(CLASSES)), np.nan)
                aligned[pos >= 0] = proba[pos[pos >= 0]]
                proba = aligned
            out[member.name] = proba
        return out

    def predict_proba(self, data: Data | Mapping[str, Any], *, on: str | None = None) -> FloatArray:
        """Combined confidence of sell / hold / buy per row (n, 3); NaN until every member has its features."""
        probas = self.member_probabilities(data, on=on)
        return combined_scores([probas[m.name] for m in self.members], self.weights, self.config.method)

    def predict(self, data: Data | Mapping[str, Any], *, on: str | None = None) -> tuple[IntArray, FloatArray]:
        """(classes, confidence) per row: 1 buy, -1 sell, 0 hold (also where a member has no features yet, with
        confidence NaN). data: bars (see member_probabilities) or member name -> feature rows."""
        return decide(self.predict_proba(data, on=on), self.config.threshold)

    def combine(self, probas: Sequence[npt.ArrayLike]) -> tuple[IntArray, FloatArray]:
        """The decision from one probability array (n, 3) per member, in member order."""
        return combine(
            np.stack([np.asarray(p, dtype=np.float64) for p in probas]),
            self.weights,
            method=self.config.method,
            threshold=self.config.threshold,
        )

    # --------------------------------------------------------------------------------------- helpers
    def _from_features(self, rows: Mapping[str, Any]) -> dict[str, FloatArray]:
        names = [m.name for m in self.members]
        missing, unknown = [n for n in names if n not in rows], [n for n in rows if n not in names]
        if missing or unknown:
            raise ConfigError(f"feature rows are needed for members {names}; missing {missing}, unknown {unknown}")
        out = {m.name: m.predict_proba(rows[m.name]) for m in self.members}
        lengths = {k: v.shape[0] for k, v in out.items()}
        if len(set(lengths.values())) > 1:
            raise DataError(f"every member needs the same number of feature rows, got {lengths}")
        return out

    def _timeline(self, data: Data | Mapping[str, Any], on: str | None) -> BarSeries:
        if isinstance(data, BarSeries):
            if on is not None and on != data.symbol:
                raise ConfigError(f"on={on!r} but the bars are {data.symbol}")
            return data
        if not isinstance(data, Mapping) or not data:
            raise ConfigError("give bars (a BarSeries or symbol -> BarSeries) or member name -> feature rows")
        symbol = on or next((s for m in self.members if (s := m.config.symbol) is not None and s in data), None)
        symbol = symbol or next(iter(data))
        if symbol not in data:
            raise ConfigError(f"on={symbol!r} has no bars; the symbols are {list(data)}")
        return data[symbol]

    @staticmethod
    def _bars(member: EnsembleMember, data: Any, default: BarSeries | None = None) -> BarSeries:
        symbol = member.config.symbol
        if isinstance(data, BarSeries):
            if symbol is not None and symbol != data.symbol:
                raise ConfigError(
                    f"member {member.name!r} reads {symbol} but the bars are {data.symbol}: pass "
                    "{symbol: bars, ...} with the bars of every member's symbol"
                )
            return data
        if not isinstance(data, Mapping) or not data:
            raise ConfigError("give bars: a BarSeries, or a dict symbol -> BarSeries when members read several symbols")
        if symbol is None:
            return default if default is not None else next(iter(data.values()))  # (default: the timeline)
        if symbol not in data:
            raise ConfigError(f"member {member.name!r} reads {symbol}, which is not among {list(data)}")
        bars = data[symbol]
        if not isinstance(bars, BarSeries):
            raise ConfigError(f"data[{symbol!r}] must be a BarSeries, got {type(bars).__name__}")
        return bars

    @staticmethod
    def _features(member: EnsembleMember, bars: BarSeries, cache: dict[tuple[str, str], FloatArray]) -> FloatArray:
        key = (f"{bars.symbol}@{id(bars)}", repr(member.feature_set))
        if key not in cache:
            cache[key] = member.feature_set.compute_array(bars)
        return cache[key]
