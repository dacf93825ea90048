"""ML strategies for the event engine, so they run unchanged in a backtest, a bar-by-bar replay, paper and live.

- `MLStrategy`: a model (or an Ensemble) predicts sell / hold / buy at every bar from a FeatureSet; the prediction
  sets the position (long / short / flat), with a probability threshold and a sizing fraction. It is trained on a
  warm-up period before it trades and retrained every N bars and/or every N closed trades.
- `MetaLabelFilter` (tradeforge.ml.strategy_meta): wraps a rule strategy and lets an entry through only when a
  model's probability that the entry pays after fees passes a threshold.

    from tradeforge.ml.strategy import MLStrategy
    strategy = MLStrategy(model="Decision Tree", horizon=5, train_window=2000, retrain_every_trades=30)
    result = run_backtest(strategy, bars, commission=0.001)
    strategy.trainings   # when it was trained, and on which bars

No look-ahead, by construction and checked: the features are an engine indicator (a feature that peeks at later bars
is refused in a backtest, see strategy_features); at bar i a model is trained on the `train_window` bars ending at
bar i - 1, with labels computed from those bars only, so the last `horizon` of them, whose outcome is not known
before bar i, are left out: training samples are bars i - train_window .. i - 1 - horizon. Bar i itself is not used
(one bar more conservative than needed). The decision at bar i is executed by the engine (next open by default).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from tradeforge.core.clock import iso
from tradeforge.core.errors import ConfigError
from tradeforge.core.strategy import Strategy, TradeEvent
from tradeforge.ml.ensemble import (
    BUY,
    HOLD,
    SELL,
    Ensemble,
    EnsembleConfig,
    EnsembleMember,
    MemberConfig,
    TrainingWindow,
    check_probability,
    check_whole,
    combined_scores,
    decide,
)
from tradeforge.ml.features import FeatureSet, default_feature_set
from tradeforge.ml.models import Model, make_model
from tradeforge.ml.strategy_features import FeatureRows
from tradeforge.ml.strategy_meta import Decision, MetaLabelFilter, MetaTraining

__all__ = ["Decision", "MLStrategy", "MetaLabelFilter", "MetaTraining", "TrainingRecord"]

_SINGLE_ONLY = ("model_params", "features", "horizon", "train_window", "labels", "fee_rate", "label_threshold")
_DEFAULTS: dict[str, Any] = {
    "horizon": 5,
    "train_window": 2000,
    "labels": "horizon",
    "fee_rate": 0.001,
    "on_missing_class": "raise",
}


@dataclass(frozen=True)
class TrainingRecord:
    """One (re)training: at the close of bar `bar` (time `ts`), for `reason` ("warmup", "bars" or "trades"); one
    TrainingWindow per member (a single model is one member) with the bars it learnt from."""

    bar: int
    ts: int
    reason: str
    windows: tuple[TrainingWindow, ...]

    @property
    def time(self) -> str:
        return iso(self.ts)

    @property
    def first(self) -> int:
        """First training sample of the (first) member."""
        return self.windows[0].first

    @property
    def last(self) -> int:
        """Last training sample of the (first) member: bar - 1 - horizon."""
        return self.windows[0].last


class MLStrategy(Strategy):
    """Trades a model's prediction of sell / hold / buy at each bar.

    model: a zoo name ("Decision Tree"), an unfitted Model (copied for each training), an Ensemble or an
    EnsembleConfig. With a name or a Model: model_params (hyperparameters of a named model), features (a FeatureSet;
    default default_feature_set()), horizon (label horizon in bars, default 5), train_window (bars, default 2000),
    labels ("horizon" or "triple_barrier"), fee_rate (a move must beat 2 * fee_rate to be buy or sell; default 0.001)
    and label_threshold configure it; an ensemble's members carry these themselves. on_missing_class: "raise"
    (default) or "zero" (a class absent from a training window gets probability 0).

    threshold: the winning class's probability must pass it to act, else the prediction counts as hold (default:
    0 for a model, the ensemble's own threshold). warmup: bars before the first training (default: the longest
    feature warm-up plus train_window); no trade before it. retrain_every: retrain every N bars; retrain_every_trades:
    retrain after every N closed trades (0: never; with both, whichever comes first). direction: "long_short" (sell
    -> short) or "long_only" (sell -> flat); hold: "keep" the position or go "flat" on hold; fraction: share of the
    available margin each entry uses.

    After a run: `trainings` (a TrainingRecord per training) and `predictions` (how often each class was predicted).
    """

    model: str | Model | Ensemble | EnsembleConfig = "Decision Tree"
    model_params: Mapping[str, Any] | None = None
    features: FeatureSet | None = None
    horizon: int | None = None
    train_window: int | None = None
    labels: str | None = None
    fee_rate: float | None = None
    label_threshold: float | None = None
    on_missing_class: str | None = None
    threshold: float | None = None
    warmup: int | None = None
    retrain_every: int = 0
    retrain_every_trades: int = 0
    direction: str = "long_short"
    hold: str = "keep"
    fraction: float = 1.0

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self._template = self._build()
        self.trainings: list[TrainingRecord] = []
        self.predictions: dict[int, int] = {SELL: 0, HOLD: 0, BUY: 0}

    # ---------------------------------------------------------------------------------------- settings
    def _build(self) -> Ensemble:
        """Validate the parameters and build the (untrained) ensemble the strategy retrains."""
        for key in ("retrain_every", "retrain_every_trades"):
            check_whole(key, getattr(self, key), minimum=0)
        if self.warmup is not None:
            check_whole("warmup", self.warmup, minimum=1)
        if self.direction not in ("long_short", "long_only"):
            raise ConfigError(f"direction must be 'long_short' or 'long_only', got {self.direction!r}")
        if self.hold not in ("keep", "flat"):
            raise ConfigError(f"hold must be 'keep' (the position) or 'flat', got {self.hold!r}")
        f = self.fraction
        if isinstance(f, bool) or not isinstance(f, int | float) or not 0 < f <= 1:
            raise ConfigError(f"fraction must be in (0, 1] (the share of available margin per entry), got {f!r}")
        if self.threshold is not None:
            check_probability("threshold", self.threshold)
        model = self.model
        if isinstance(model, Ensemble | EnsembleConfig):
            given = [k for k in (*_SINGLE_ONLY, "on_missing_class") if getattr(self, k) is not None]
            if given:
                raise ConfigError(
                    f"{', '.join(given)} configure a single model; an ensemble's members and EnsembleConfig carry "
                    "their own (granularity, train_window, features, labels, fee_rate, ...)"
                )
            return model.fresh() if isinstance(model, Ensemble) else Ensemble(model)
        if not isinstance(model, str | Model):
            raise ConfigError(
                f"model must be a model name such as 'Decision Tree', a Model, an Ensemble or an EnsembleConfig, "
                f"got {model!r}"
            )
        if self.features is not None and not isinstance(self.features, FeatureSet):
            raise ConfigError(f"features must be a FeatureSet (e.g. default_feature_set()), got {self.features!r}")
        if isinstance(model, Model) and self.model_params:
            raise ConfigError("model_params apply to a model given by name; set them on the Model instead")
        if isinstance(model, str):
            make_model(model, **dict(self.model_params or {}))  # an unknown name or hyperparameter fails here
        opts = {k: getattr(self, k) if getattr(self, k) is not None else v for k, v in _DEFAULTS.items()}
        horizon = check_whole("horizon", opts["horizon"])
        window = check_whole("train_window", opts["train_window"])
        member = MemberConfig(
            type=model if isinstance(model, str) else model.name,
            weight=1.0,
            granularity=horizon,
            datasetinputs=1,
            name="model",
            train_window=window,
            params=dict(self.model_params or {}) if isinstance(model, str) else {},
            features=self.features if self.features is not None else default_feature_set(),
        )
        config = EnsembleConfig(
            members=[member],
            threshold=0.0,
            labels=opts["labels"],
            fee_rate=opts["fee_rate"],
            label_threshold=self.label_threshold,
            on_missing_class=opts["on_missing_class"],
        )
        return Ensemble(config, templates={"model": model} if isinstance(model, Model) else None)

    # ------------------------------------------------------------------------------------------- engine
    def on_start(self) -> None:
        self._ensemble = self._template.fresh()
        self._threshold = self.threshold if self.threshold is not None else self._ensemble.config.threshold
        traded = self.symbols[0]
        declared: dict[tuple[str, str], FeatureRows] = {}
        self._rows: list[FeatureRows] = []
        for member in self._ensemble.members:
            symbol = member.config.symbol or traded
            key = (symbol, repr(member.feature_set))
            if key not in declared:
                view = self.data if symbol == traded else self.data_for(symbol)
                declared[key] = FeatureRows(self, member.feature_set, view)
            self._rows.append(declared[key])
        members = self._ensemble.members
        self._warmup: int = self.warmup or max(m.feature_set.warmup + m.config.train_window for m in members)
        self.trainings = []
        self.predictions = {SELL: 0, HOLD: 0, BUY: 0}
        self._last_bar = -1
        self._trained_at = -1
        self._closed_since = 0

    def on_trade(self, event: TradeEvent) -> None:
        self._closed_since += len(event.closed)

    def on_bar(self) -> None:
        i = len(self.data) - 1
        if i == self._last_bar:  # a step with bars of other symbols only
            return
        self._last_bar = i
        if i < self._warmup:
            return
        reason = self._due(i)
        if reason:
            self.train(i, reason)
        side, confidence = self.predict_latest()
        self.predictions[side] += 1
        self._act(side, confidence)

    def _due(self, i: int) -> str:
        if self._trained_at < 0:
            return "warmup"
        if self.retrain_every and i - self._trained_at >= self.retrain_every:
            return "bars"
        if self.retrain_every_trades and self._closed_since >= self.retrain_every_trades:
            return "trades"
        return ""

    def train(self, i: int, reason: str) -> TrainingRecord:
        """Train every member on its last train_window bars before bar i (the current bar is not used)."""
        cfg = self._ensemble.config
        windows = []
        for member, rows in zip(self._ensemble.members, self._rows, strict=True):
            windows.append(self._fit(member, rows, cfg))
        record = TrainingRecord(i, self.now, reason, tuple(windows))
        self.trainings.append(record)
        self._trained_at = i
        self._closed_since = 0
        return record

    @staticmethod
    def _fit(member: EnsembleMember, rows: FeatureRows, cfg: EnsembleConfig) -> TrainingWindow:
        stop = len(rows) - 1  # the member's latest bar (the current one, for the traded symbol) is left out
        first = max(0, stop - member.config.train_window)
        return member.fit(
            rows.bars(first, stop),
            rows.rows(first, stop),
            offset=first,
            labels=cfg.labels,
            fee_rate=cfg.fee_rate,
            label_threshold=cfg.label_threshold,
            on_missing_class=cfg.on_missing_class,
        )

    def _model_name(self) -> str:
        members = self._ensemble.members
        names = [getattr(m, "name", type(m).__name__) for m in members]
        return names[0] if len(names) == 1 else f"ensemble({', '.join(names)})"

    def predict_latest(self) -> tuple[int, float]:
        """(class, confidence) at the last closed bar: hold while a member's features are not ready."""
        ens = self._ensemble
        probas = [m.predict_proba(rows.latest()) for m, rows in zip(ens.members, self._rows, strict=True)]
        scores = combined_scores(np.stack(probas), ens.weights, ens.config.method)
        classes, confidence = decide(scores, self._threshold)
        return int(classes[0]), float(confidence[0])

    def _act(self, side: int, confidence: float = math.nan) -> None:
        qty = self.position().qty
        current = (qty > 0) - (qty < 0)
        if side == BUY:
            target = 1
        elif side == SELL:
            target = -1 if self.direction == "long_short" else 0
        else:
            target = current if self.hold == "keep" else 0
        if target == current:
            return
        if target:  # the model's call, recorded as the signal the entry acts on (stored in paper / live runs)
            label = "buy" if target > 0 else "sell"
            self.signal(
                label, reason=f"model predicts {label} with probability {confidence:.3f}", model=self._model_name(),
                value=None if math.isnan(confidence) else confidence, threshold=self._threshold, label=label,
            )  # fmt: skip
        if current:
            self.close()
        if target > 0:
            self.buy(fraction=self.fraction)
        elif target < 0:
            self.sell(fraction=self.fraction)
