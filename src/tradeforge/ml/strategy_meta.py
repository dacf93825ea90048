"""MetaLabelFilter: a model decides which of a rule strategy's entries to take (meta-labelling).

    from tradeforge.strategies.sma_cross import SmaCross
    strategy = MetaLabelFilter(rule=SmaCross(fast=10, slow=30), model="Random Forest", threshold=0.55,
                               train_window=5000, retrain_every=1000)
    result = run_backtest(strategy, bars, commission=0.001)
    strategy.decisions          # every entry signal: time, side, probability, accepted or not

The rule runs as it would alone, except that each order that opens or adds to a position (an entry: a buy or sell
while flat or on the same side, counting the rule's orders earlier in the same bar; orders against the position,
close() and exits pass untouched, so reverse with close() then buy()/sell() to have the new entry filtered) first
goes to the meta-model, which gives the probability that such an entry at this bar pays after fees. The entry goes
through when that probability passes `threshold` (0: every entry, the rule unchanged; 1: none). A rejected entry
returns an order in status REJECTED to the rule, with the reason (it is never sent, so it is not in the result's
orders; the rule may signal again on a later bar, and each signal is a new decision).

The meta-model learns from the rule's own trades: at each (re)training at bar i, the rule is backtested alone on the
`train_window` bars before bar i (bars i - train_window .. i - 1, nothing later), and each of its trades closed in
that window is labelled 1 if it made money after paying `fee_rate` on entry and exit (tradeforge.ml.labels
.meta_labels), else 0; the features are those of the bar where the rule decided, plus the side. So the model keeps
learning from every signal of the rule, including those it rejected. With fewer than `min_trades` closed trades it
is not (re)trained; with a single outcome among them (all won, or all lost; fewer than 2 of either) the probability
is the share of winners, the base rate. Before the first training there is no model, and only threshold 0 lets
entries through. The rule's solo backtests charge `fee_rate` and fill like `fill_timing`; it is rebuilt for them
from its class and parameters.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import pandas as pd

from tradeforge.core.clock import iso
from tradeforge.core.errors import ConfigError
from tradeforge.core.orders import Order
from tradeforge.core.strategy import Strategy, TradeEvent
from tradeforge.core.types import OrderStatus, Side
from tradeforge.ml.ensemble import check_probability, check_whole, passes_threshold
from tradeforge.ml.features import FeatureSet, default_feature_set
from tradeforge.ml.labels import meta_labels
from tradeforge.ml.models import Model, make_model
from tradeforge.ml.strategy_features import FeatureRows
from tradeforge.sim.backtest import run_backtest

if TYPE_CHECKING:
    from tradeforge.core.engine import Engine


@dataclass(frozen=True)
class Decision:
    """One entry signal of the rule: bar index and time (int ns), side (1 long, -1 short), the meta-model's
    probability that it pays (NaN without a model), whether it went through, and why."""

    bar: int
    ts: int
    side: int
    probability: float
    accepted: bool
    reason: str

    @property
    def time(self) -> str:
        return iso(self.ts)


@dataclass(frozen=True)
class MetaTraining:
    """One (re)training at bar `bar`: the rule's trades in bars first..stop-1 (stop = bar, the current bar left
    out); `trades` closed trades were labelled (the latest exit at bar `last_exit`), `counts` per label (1 paid,
    0 did not); `kind`: "model", "base rate", or "none" (fewer than min_trades: the previous model stays)."""

    bar: int
    ts: int
    reason: str
    first: int
    stop: int
    trades: int
    last_exit: int
    counts: dict[int, int]
    kind: str


class _RuleEngine:
    """The engine as the wrapped rule sees it: the real one, except that entries go through the filter first."""

    def __init__(self, engine: Engine, owner: MetaLabelFilter) -> None:
        self._engine = engine
        self._owner = owner

    def __getattr__(self, name: str) -> Any:
        return getattr(self._engine, name)

    def submit_new(self, strategy: Strategy, **kwargs: Any) -> Order:
        return self._owner._submit(strategy, kwargs)

    def close_position(self, strategy: Strategy, symbol: str, fraction: float, trade: Any, **kwargs: Any) -> Any:
        if fraction >= 1.0 and trade is None:
            self._owner._intent[symbol] = 0
        return self._engine.close_position(strategy, symbol, fraction, trade, **kwargs)


class MetaLabelFilter(Strategy):
    """Wraps `rule` (a Strategy class or instance trading one symbol) and filters its entries with a meta-model.

    model: a zoo name or an unfitted Model (binary: does the entry pay?), model_params: its hyperparameters;
    features: a FeatureSet (default default_feature_set()), read at the bar of the signal, plus the side;
    threshold: minimum probability to take an entry (0 takes all, 1 none); fee_rate: fees per side the labels
    charge (and the rule's solo backtests); train_window: bars of the rule's past trades the model learns from;
    warmup: bar of the first training (default train_window); retrain_every: retrain every N bars;
    retrain_every_trades: retrain after every N entry signals of the rule (taken or not); min_trades: closed trades
    needed to (re)train; fill_timing: the fills of the rule's solo backtests ("next_open" or "close", as in yours).

    After a run: `decisions` (Decision per entry signal, also as decisions_frame()) and `trainings`."""

    rule: Strategy | type[Strategy] | None = None
    model: str | Model = "Random Forest"
    model_params: Mapping[str, Any] | None = None
    features: FeatureSet | None = None
    threshold: float = 0.5
    fee_rate: float = 0.001
    train_window: int = 5000
    warmup: int | None = None
    retrain_every: int = 0
    retrain_every_trades: int = 0
    min_trades: int = 10
    fill_timing: str = "next_open"

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        rule = self.rule
        if not (isinstance(rule, Strategy) or (isinstance(rule, type) and issubclass(rule, Strategy))):
            raise ConfigError(
                f"rule must be a Strategy class or instance to filter (e.g. rule=SmaCross(fast=10)), got {rule!r}"
            )
        check_probability("threshold", self.threshold)
        fee = self.fee_rate
        if isinstance(fee, bool) or not isinstance(fee, int | float) or not 0.0 <= fee < 1.0:
            raise ConfigError(f"fee_rate must be a fraction in [0, 1) (0.001 = 0.1% per side), got {fee!r}")
        check_whole("train_window", self.train_window, minimum=10)
        check_whole("min_trades", self.min_trades, minimum=2)
        for key in ("retrain_every", "retrain_every_trades"):
            check_whole(key, getattr(self, key), minimum=0)
        if self.warmup is not None:
            check_whole("warmup", self.warmup)
        if self.fill_timing not in ("next_open", "close"):
            raise ConfigError(f"fill_timing must be 'next_open' or 'close', got {self.fill_timing!r}")
        if self.features is not None and not isinstance(self.features, FeatureSet):
            raise ConfigError(f"features must be a FeatureSet, got {self.features!r}")
        if isinstance(self.model, Model):
            if self.model_params:
                raise ConfigError("model_params apply to a model given by name; set them on the Model instead")
        elif isinstance(self.model, str):
            make_model(self.model, **dict(self.model_params or {}))  # unknown names and parameters fail here
        else:
            raise ConfigError(f"model must be a model name such as 'Random Forest' or a Model, got {self.model!r}")
        self.decisions: list[Decision] = []
        self.trainings: list[MetaTraining] = []

    def decisions_frame(self) -> pd.DataFrame:
        """The decisions as a table indexed by time (UTC)."""
        frame = pd.DataFrame([asdict(d) for d in self.decisions], columns=list(Decision.__dataclass_fields__))
        frame.index = pd.DatetimeIndex(pd.to_datetime(frame.pop("ts").to_numpy(dtype=np.int64), utc=True), name="time")
        return frame

    # ------------------------------------------------------------------------------------------- engine
    def on_start(self) -> None:
        rule = self.rule
        self._rule: Strategy = rule() if isinstance(rule, type) else cast(Strategy, rule)
        self._rows = FeatureRows(self, self.features or default_feature_set(), self.data)
        self._model: Model | None = None
        self._base_rate = math.nan
        self._warmup = self.warmup if self.warmup is not None else self.train_window
        self._trained_at = -1
        self._signals_since = 0
        self._intent: dict[str, int] = {}
        self.decisions = []
        self.trainings = []
        self._rule._name = self._name
        self._rule._engine = cast("Engine", _RuleEngine(self.engine, self))
        self._rule.data = self.data
        self._rule.on_start()

    def on_bar(self) -> None:
        i = len(self.data) - 1
        self._intent = {}
        if i >= self._warmup:
            reason = self._due(i)
            if reason:
                self.train(i, reason)
        self._rule.on_bar()

    def on_order(self, order: Order) -> None:
        self._rule.on_order(order)

    def on_trade(self, event: TradeEvent) -> None:
        self._rule.on_trade(event)

    def on_stop(self) -> None:
        self._rule.on_stop()

    # ------------------------------------------------------------------------------------------ filtering
    def _submit(self, strategy: Strategy, kwargs: dict[str, Any]) -> Order:
        symbol, side = kwargs["symbol"], kwargs["side"]
        sign = 1 if side is Side.BUY else -1
        if kwargs.get("reduce_only") or kwargs.get("role", "entry") != "entry":
            return self.engine.submit_new(strategy, **kwargs)
        intent = self._intent.get(symbol)
        if intent is None:
            qty = self.position(symbol).qty
            intent = (qty > 0) - (qty < 0)
        if intent == -sign:  # against the position: an exit, not filtered
            self._intent[symbol] = 0
            return self.engine.submit_new(strategy, **kwargs)
        if symbol != self.symbols[0]:
            raise ConfigError(f"MetaLabelFilter filters a rule trading {self.symbols[0]}; it entered {symbol}")
        decision = self._decide(sign)
        if decision.accepted:
            self._intent[symbol] = sign
            return self.engine.submit_new(strategy, **kwargs)
        return self._refused(kwargs, decision)

    def _decide(self, sign: int) -> Decision:
        i = len(self.data) - 1
        self._signals_since += 1
        p = math.nan
        if self._model is not None:
            x = np.append(self._rows.latest(), float(sign))
            if np.isfinite(x).all():
                p = float(self._model.predict_proba(x.reshape(1, -1))[0, 1])
            reason = "model"
        elif not math.isnan(self._base_rate):
            p, reason = self._base_rate, "base rate"
        else:
            reason = "no model yet"
        accepted = passes_threshold(p, self.threshold)
        reason = f"{reason}: p={p:.3f} {'passes' if accepted else 'fails'} threshold {self.threshold:g}"
        decision = Decision(i, self.now, sign, p, accepted, reason)
        self.decisions.append(decision)
        model = self.model if isinstance(self.model, str) else getattr(self.model, "name", type(self.model).__name__)
        self.signal(
            "buy" if sign > 0 else "sell", accepted=accepted, reason=reason, model=str(model),
            value=None if math.isnan(p) else p, threshold=self.threshold, label="entry pays",
        )  # fmt: skip
        return decision

    def _refused(self, kwargs: dict[str, Any], decision: Decision) -> Order:
        """The order the rule gets back for an entry the filter refused (never sent: not in the engine's orders)."""
        order = Order(
            -len(self.decisions), self._name, kwargs["symbol"], kwargs["side"], kwargs["kind"], kwargs.get("qty"),
            self.now, self.engine.step, kwargs.get("fraction"), kwargs.get("limit"), kwargs.get("stop"),
            role=kwargs.get("role", "entry"), tag=kwargs.get("tag", ""),
        )  # fmt: skip
        order.reject_reason = f"meta-label filter: {decision.reason}"
        order.transition(OrderStatus.REJECTED, self.now)
        return order

    # ------------------------------------------------------------------------------------------- training
    def _due(self, i: int) -> str:
        if self._trained_at < 0:
            return "warmup"
        if self.retrain_every and i - self._trained_at >= self.retrain_every:
            return "bars"
        if self.retrain_every_trades and self._signals_since >= self.retrain_every_trades:
            return "trades"
        return ""

    def train(self, i: int, reason: str) -> MetaTraining:
        """Backtest the rule alone on the train_window bars before bar i, label its closed trades, fit the model."""
        first = max(0, i - self.train_window)
        bars = self._rows.bars(first, i)
        symbol = bars.symbol
        solo = run_backtest(
            type(self._rule)(**self._rule.params),
            bars,
            cash=self.engine.portfolio.books[self._name].capital,
            commission=self.fee_rate,
            fill_timing=self.fill_timing,
            instruments={symbol: self.engine.instruments[symbol]},
        )
        created = {o.id: o.created_bar for o in solo.orders}
        closed = [t for t in solo.trades if not t.is_open]
        kind, counts, last_exit, n = "none", {}, -1, 0
        if closed:
            labels = meta_labels(
                bars,
                [t.entry_bar for t in closed],
                [1 if t.size > 0 else -1 for t in closed],
                [t.exit_bar for t in closed],
                entry_price=[t.entry_price for t in closed],
                exit_price=[t.exit_price for t in closed],
                signal_idx=[created[t.entry_order_id] for t in closed],
                fee_rate=self.fee_rate,
            )
            X = np.column_stack([self._rows.rows(first, i)[labels.start], labels.side.astype(np.float64)])
            keep = np.isfinite(X).all(axis=1)
            y = labels.label[keep].astype(np.int64)
            n = int(keep.sum())
            values, sizes = np.unique(y, return_counts=True)
            counts = {int(v): int(c) for v, c in zip(values, sizes, strict=True)}
            last_exit = first + int(labels.end.max())
            if n >= self.min_trades:
                if len(values) == 2 and sizes.min() >= 2:
                    model = self._new_model()
                    model.fit(X[keep], y, classes=[0, 1], feature_names=[*self._rows.columns, "side"])
                    self._model, self._base_rate, kind = model, math.nan, "model"
                else:
                    self._model, self._base_rate, kind = None, float(y.mean()), "base rate"
        record = MetaTraining(i, self.now, reason, first, i, n, last_exit, counts, kind)
        self.trainings.append(record)
        self._trained_at = i
        self._signals_since = 0
        return record

    def _new_model(self) -> Model:
        if isinstance(self.model, Model):
            return copy.deepcopy(self.model)
        return make_model(self.model, **dict(self.model_params or {}))
