"""ML strategies in the event engine, on real bars: the same trades in a backtest and a bar-by-bar replay; training
at the expected bars on windows that end before the current bar minus the label horizon (checked on the indices and
on the very rows and labels each model was fitted on); decisions blind to later bars; a planted peeking feature
refused; the meta-label filter against its threshold; clear errors for bad settings."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pytest

from tradeforge.core.bars import BarSeries
from tradeforge.core.errors import ConfigError, LookAheadError
from tradeforge.core.types import Side
from tradeforge.data import load_sample, sample_instrument
from tradeforge.ml.ensemble import EnsembleConfig
from tradeforge.ml.features import FeatureSet, Returns
from tradeforge.ml.features_base import BlockStream, FeatureBlock, FloatArray
from tradeforge.ml.labels import horizon_labels
from tradeforge.ml.lookahead import check_lookahead
from tradeforge.ml.models import Model, make_model
from tradeforge.ml.strategy import MetaLabelFilter, MLStrategy
from tradeforge.research.library import rsi_reversion
from tradeforge.research.strategy import signal_strategy
from tradeforge.sim.backtest import run_backtest
from tradeforge.sim.result import Result
from tradeforge.strategies.sma_cross import SmaCross

FEATURES = FeatureSet([Returns(5)])  # fast, warm-up of 5 bars


@pytest.fixture(scope="module")
def btc() -> BarSeries:
    return load_sample("BTC-PERP").slice(0, 4000)


def backtest(strategy: Any, bars: BarSeries | list[BarSeries], **kw: Any) -> Result:
    series = bars if isinstance(bars, list) else [bars]
    instruments = {s.symbol: sample_instrument(s.symbol) for s in series}
    return run_backtest(strategy, bars, commission=0.0005, instruments=instruments, **kw)


def trades(result: Result) -> list[tuple[Any, ...]]:
    return [(t.symbol, t.entry_bar, t.exit_bar, t.size, t.entry_price, t.exit_price, t.fees) for t in result.trades]


def ml(**kw: Any) -> MLStrategy:
    params: dict[str, Any] = {
        "model": "Decision Tree",
        "model_params": {"max_depth": 4},
        "features": FEATURES,
        "horizon": 3,
        "train_window": 1000,
        "on_missing_class": "zero",
    }
    params.update(kw)
    return MLStrategy(**params)


# ------------------------------------------------------------------------------- backtest == replay
@pytest.mark.parametrize("retrain", [{"retrain_every": 400}, {"retrain_every_trades": 5}])
def test_a_backtest_and_a_bar_by_bar_replay_trade_the_same(btc: BarSeries, retrain: dict[str, int]) -> None:
    runs = []
    for replay in (False, True):
        strategy = ml(features=None, **retrain)  # the default feature set: TA-Lib indicators, factors, volume
        runs.append((backtest(strategy, btc, replay=replay), strategy))
    (batch, s1), (replayed, s2) = runs
    assert len(batch.trades) > 5
    assert trades(batch) == trades(replayed)
    assert s1.trainings == s2.trainings and len(s1.trainings) > 2
    np.testing.assert_array_equal(batch.equity, replayed.equity)


def test_an_ensemble_over_two_symbols_trades_the_same_in_replay() -> None:
    eth, ltc = load_sample("ETH-BTC").slice(0, 3500), load_sample("LTC-BTC").slice(0, 3500)  # 5m, with gaps
    config = EnsembleConfig(
        members=[
            {"type": "Naive Bayes", "weight": 2, "granularity": 2, "datasetinputs": 3, "train_window": 1500},
            {"type": "lda", "weight": 1, "granularity": 3, "datasetinputs": 4, "symbol": "LTC-BTC"},
        ],
        threshold=0.5,
        on_missing_class="zero",
    )
    runs = []
    for replay in (False, True):
        strategy = MLStrategy(model=config, retrain_every=700)
        runs.append((backtest(strategy, [eth, ltc], replay=replay, symbols=None), strategy))
    (batch, s1), (replayed, s2) = runs
    assert trades(batch) == trades(replayed) and len(batch.trades) > 3
    assert {t.symbol for t in batch.trades} == {"ETH-BTC"}
    assert s1.trainings == s2.trainings
    first = s1.trainings[0]
    assert first.bar == 6 + 1500  # the feature warm-up (3 moves of 2 bars) plus train_window, in ETH bars
    eth_window, ltc_window = first.windows
    assert (eth_window.first, eth_window.last, eth_window.stop) == (6, 1506 - 1 - 2, 1506)
    assert ltc_window.symbol == "LTC-BTC" and ltc_window.stop - ltc_window.first == 1000
    ltc_ts = ltc.ts[ltc_window.stop]  # the LTC bar left out: the latest one closed at the training
    assert ltc_ts <= eth.ts[first.bar]


# ------------------------------------------------------------------------------------ retraining
def test_it_trains_after_the_warmup_then_every_n_bars_on_windows_before_the_bar_minus_the_horizon(
    btc: BarSeries,
) -> None:
    strategy = ml(warmup=1200, retrain_every=500)
    result = backtest(strategy, btc)
    assert [(t.bar, t.reason) for t in strategy.trainings] == [
        (1200, "warmup"), (1700, "bars"), (2200, "bars"), (2700, "bars"), (3200, "bars"), (3700, "bars")
    ]  # fmt: skip
    for record in strategy.trainings:
        (window,) = record.windows
        assert window.stop == record.bar  # the current bar is not used ...
        assert window.first == record.bar - 1000  # ... the last train_window bars before it are
        assert window.last == record.bar - 1 - 3  # the last 3 samples have no known label yet
        assert window.last + window.horizon < record.bar
        assert record.ts == int(btc.ts[record.bar])
    assert min(o.created_bar for o in result.orders) >= 1200  # nothing traded during the warm-up
    assert sum(strategy.predictions.values()) == len(btc) - 1200


def test_every_n_trades_retrains_on_the_bar_the_nth_trade_closed(btc: BarSeries) -> None:
    n = 3
    strategy = ml(retrain_every_trades=n, horizon=2)
    result = backtest(strategy, btc)
    exits = np.array(sorted(t.exit_bar for t in result.trades if not t.is_open))
    bars = [t.bar for t in strategy.trainings]
    assert strategy.trainings[0].reason == "warmup" and bars[0] == 1000 + 5
    assert len(bars) > 2 and all(t.reason == "trades" for t in strategy.trainings[1:])
    for before, at in itertools.pairwise(bars):
        assert ((exits > before) & (exits <= at)).sum() >= n  # the nth trade since the last training closed ...
        assert ((exits > before) & (exits <= at - 1)).sum() < n  # ... on this very bar, not before
    assert ((exits > bars[-1]) & (exits < len(btc))).sum() < n


def test_each_model_is_fitted_on_exactly_the_rows_and_labels_known_before_the_bar(
    btc: BarSeries, monkeypatch: pytest.MonkeyPatch
) -> None:
    fitted: list[tuple[np.ndarray, np.ndarray]] = []
    original = Model.fit

    def spy(self: Model, X: Any, y: Any, **kw: Any) -> Model:
        fitted.append((np.asarray(X).copy(), np.asarray(y).copy()))
        return original(self, X, y, **kw)

    monkeypatch.setattr(Model, "fit", spy)
    strategy = ml(retrain_every=700, horizon=4, features=FeatureSet([Returns(3, 2)]))
    backtest(strategy, btc)
    features = FeatureSet([Returns(3, 2)]).compute_array(btc)  # on all 4000 bars: later bars cannot matter
    labels = horizon_labels(btc, 4, fee_rate=0.001)  # the same labels, computed on the full history
    assert [t.bar for t in strategy.trainings] == [1006, 1706, 2406, 3106, 3806]  # warm-up: 6 + 1000 bars
    assert len(fitted) == 5
    for record, (X, y) in zip(strategy.trainings, fitted, strict=True):
        rows = np.arange(record.bar - 1000, record.bar - 4)  # ... up to bar - 1 - horizon: labelled by bar - 1
        keep = np.isfinite(features[rows]).all(axis=1)
        np.testing.assert_array_equal(X, features[rows][keep])
        np.testing.assert_array_equal(y, labels.label[rows][keep])
        assert labels.end[rows].max() == record.bar - 1


def test_decisions_do_not_change_when_later_bars_change(btc: BarSeries) -> None:
    cut = 2600
    scale = np.where(np.arange(len(btc)) >= cut, 1.25, 1.0)  # a different future from bar 2600 on
    altered = BarSeries.from_arrays(
        btc.symbol, btc.timeframe, btc.ts, btc.open * scale, btc.high * scale, btc.low * scale, btc.close * scale,
        btc.volume,
    )  # fmt: skip
    runs = []
    for bars in (btc, altered):
        strategy = ml(retrain_every=300, features=None)
        runs.append((backtest(strategy, bars), strategy))
    (a, sa), (b, sb) = runs

    def before(result: Result) -> list[tuple[Any, ...]]:
        return [(o.created_bar, o.side, o.qty, o.fraction) for o in result.orders if o.created_bar < cut - 1]

    assert len(before(a)) > 5 and before(a) == before(b)
    assert [t for t in sa.trainings if t.bar < cut] == [t for t in sb.trainings if t.bar < cut]
    assert sa.trainings != sb.trainings  # the later trainings did see the altered bars
    filters = [meta(0.5, retrain_every=100) for _ in range(2)]
    for strategy, bars in zip(filters, (btc, altered), strict=True):
        backtest(strategy, bars)
    fa, fb = ([d for d in f.decisions if d.bar < cut] for f in filters)
    assert len(fa) > 20 and [repr(d) for d in fa] == [repr(d) for d in fb]  # repr: NaN == NaN
    assert [t for t in filters[0].trainings if t.bar < cut] == [t for t in filters[1].trainings if t.bar < cut]


def test_long_only_never_goes_short(btc: BarSeries) -> None:
    result = backtest(ml(direction="long_only", retrain_every=500), btc)
    assert result.trades and all(t.size > 0 for t in result.trades)
    sides = {o.side for o in result.orders if not o.reduce_only}
    assert sides == {Side.BUY}


# --------------------------------------------------------------------------------------- look-ahead
@dataclass(frozen=True)
class NextReturn(FeatureBlock):
    """A planted leak: the return of the NEXT bar."""

    @property
    def columns(self) -> tuple[str, ...]:
        return ("next_return",)

    @property
    def warmup(self) -> int:
        return 0

    def compute(self, bars: BarSeries) -> FloatArray:
        out = np.full((len(bars), 1), np.nan)
        out[:-1, 0] = bars.close[1:] / bars.close[:-1] - 1.0
        return out

    def stream(self) -> BlockStream:
        return _NoStream()


class _NoStream(BlockStream):
    def update(self, ts: int, o: float, h: float, low: float, c: float, v: float) -> list[float]:
        return [np.nan]  # bar by bar it cannot peek


def test_a_feature_that_peeks_one_bar_ahead_is_refused(btc: BarSeries) -> None:
    leaky = FeatureSet([Returns(3), NextReturn()])
    with pytest.raises(
        LookAheadError,
        match=r"feature column 'next_return' of .*: indicator features BTC-PERP \(output 3\) looks ahead",
    ):
        backtest(ml(features=leaky), btc)
    with pytest.raises(LookAheadError, match=r"looks ahead"):
        backtest(MetaLabelFilter(rule=SmaCross(), features=leaky), btc)
    report = check_lookahead(leaky, btc.slice(0, 1000))
    assert report.leaking_columns == ["next_return"]
    assert check_lookahead(FEATURES, btc.slice(0, 1000)).clean


# -------------------------------------------------------------------------------- meta-label filter
def meta(threshold: float, rule: Any = None, **kw: Any) -> MetaLabelFilter:
    params: dict[str, Any] = {
        "rule": rule if rule is not None else SmaCross(fast=10, slow=30),
        "model": "Decision Tree",
        "model_params": {"max_depth": 3},
        "threshold": threshold,
        "train_window": 1500,
        "retrain_every": 500,
        "fee_rate": 0.0005,
    }
    params.update(kw)
    return MetaLabelFilter(**params)


def test_threshold_zero_trades_exactly_like_the_rule_and_one_not_at_all(btc: BarSeries) -> None:
    alone = backtest(SmaCross(fast=10, slow=30), btc)
    runs = {t: (backtest(s := meta(t), btc), s) for t in (0.0, 0.5, 1.0)}
    all_in, _ = runs[0.0]
    assert trades(all_in) == trades(alone) and len(alone.trades) > 50
    np.testing.assert_array_equal(all_in.equity, alone.equity)
    none, _ = runs[1.0]
    assert none.trades == [] and none.orders == []
    # every run asked the model about the same entry signals and got the same answers: the model learns from the
    # rule's own trades, whatever the filter let through
    decisions = {t: [(d.bar, d.side, d.probability) for d in s.decisions] for t, (_, s) in runs.items()}
    assert decisions[0.0] == decisions[1.0]
    for d0, d5 in zip(decisions[0.0], decisions[0.5], strict=True):
        np.testing.assert_equal(d0, d5)
    for threshold, (result, strategy) in runs.items():
        probs = np.array([d.probability for d in strategy.decisions])
        accepted = np.array([d.accepted for d in strategy.decisions])
        late = np.array([d.bar >= 1500 for d in strategy.decisions])
        assert late.any() and np.isfinite(probs[late]).all() and np.isnan(probs[~late]).all()
        if threshold == 0.0:
            assert accepted.all()
        elif threshold == 1.0:
            assert not accepted.any()
        else:
            np.testing.assert_array_equal(accepted, np.nan_to_num(probs, nan=-1.0) >= 0.5)
            assert 0 < accepted.sum() < accepted.size
        entries = [(o.created_bar, 1 if o.side is Side.BUY else -1) for o in result.orders if not o.reduce_only]
        assert entries == [(d.bar, d.side) for d in strategy.decisions if d.accepted]
    frame = runs[0.5][1].decisions_frame()
    assert list(frame.columns) == ["bar", "side", "probability", "accepted", "reason"]
    assert (
        isinstance(frame.index, pd.DatetimeIndex)
        and str(frame.index.tz) == "UTC"
        and len(frame) == len(runs[0.5][1].decisions)
    )
    assert frame["reason"].iloc[-1].startswith("model: p=")


def test_meta_model_learns_from_the_rules_trades_before_the_bar(btc: BarSeries) -> None:
    strategy = meta(0.5, retrain_every=0, retrain_every_trades=20)
    backtest(strategy, btc)
    trainings = strategy.trainings
    assert trainings[0].bar == 1500 and trainings[0].reason == "warmup"
    assert len(trainings) > 2 and {t.reason for t in trainings[1:]} == {"trades"}
    for record in trainings:
        assert record.stop == record.bar and record.first == max(0, record.bar - 1500)
        assert record.first <= record.last_exit < record.bar  # every label was known before the bar
        assert record.kind == "model" and record.trades == sum(record.counts.values()) >= 10
    signals = np.array([d.bar for d in strategy.decisions])
    bars = [t.bar for t in trainings]
    for before, at in itertools.pairwise(bars):  # the 20th entry signal since the last training ...
        assert ((signals >= before) & (signals <= at - 1)).sum() >= 20
        assert ((signals >= before) & (signals <= at - 2)).sum() < 20  # ... came on the bar before


def test_the_filter_wraps_a_research_signal_strategy_and_replays_the_same(btc: BarSeries) -> None:
    rule = signal_strategy(rsi_reversion, window=14, lower=30.0, upper=70.0)
    alone = backtest(rule(), btc)
    assert trades(backtest(meta(0.0, rule=rule), btc)) == trades(alone) and alone.trades
    runs = [backtest(s := meta(0.4, rule=rule()), btc, replay=replay) for replay in (False, True)]
    assert trades(runs[0]) == trades(runs[1])
    assert len(runs[0].trades) < len(alone.trades) and s.decisions


def test_a_template_model_is_copied_not_fitted_in_place(btc: BarSeries) -> None:
    template = make_model("Naive Bayes")
    strategy = ml(model=template, model_params=None, retrain_every=1000)
    backtest(strategy, btc)
    assert not template.is_fitted and len(strategy.trainings) == 3


# ------------------------------------------------------------------------------------ bad settings
@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"model": "Gradient Magic"}, r"unknown model 'Gradient Magic'"),
        ({"model": 3}, r"model must be a model name"),
        ({"model_params": {"max_dept": 3}}, r"did you mean 'max_depth'"),
        ({"direction": "short"}, r"direction must be 'long_short' or 'long_only'"),
        ({"hold": "sell"}, r"hold must be 'keep'"),
        ({"fraction": 0}, r"fraction must be in \(0, 1\]"),
        ({"threshold": 1.2}, r"threshold must be a probability in \[0, 1\]"),
        ({"retrain_every": -1}, r"retrain_every must be a whole number >= 0"),
        ({"horizon": 0}, r"horizon must be a whole number >= 1"),
        ({"train_window": 3}, r"train_window 3 leaves no labelled bar"),
        ({"labels": "forward"}, r"labels must be 'horizon' or 'triple_barrier'"),
        ({"features": [Returns(3)]}, r"features must be a FeatureSet"),
        ({"speed": 2}, r"MLStrategy has no parameter 'speed'"),
    ],
)
def test_bad_ml_strategy_settings_are_refused(params: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        ml(**params)


def test_an_ensemble_carries_its_own_settings() -> None:
    config = EnsembleConfig(members=[{"type": "lda", "weight": 1, "granularity": 2, "datasetinputs": 3}])
    with pytest.raises(ConfigError, match=r"horizon, train_window configure a single model"):
        MLStrategy(model=config, horizon=3, train_window=500)
    assert MLStrategy(model=config, threshold=0.7).threshold == 0.7


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"rule": None}, r"rule must be a Strategy class or instance"),
        ({"rule": "SmaCross"}, r"rule must be a Strategy class or instance"),
        ({"threshold": -0.1}, r"threshold must be a probability"),
        ({"fee_rate": 1.0}, r"fee_rate must be a fraction in \[0, 1\)"),
        ({"model": "Nope"}, r"unknown model 'Nope'"),
        ({"min_trades": 1}, r"min_trades must be a whole number >= 2"),
        ({"fill_timing": "open"}, r"fill_timing must be 'next_open' or 'close'"),
    ],
)
def test_bad_meta_filter_settings_are_refused(params: dict[str, Any], message: str) -> None:
    base: dict[str, Any] = {"rule": SmaCross}
    base.update(params)
    with pytest.raises(ConfigError, match=message):
        MetaLabelFilter(**base)


def test_too_short_a_warmup_is_a_clear_error(btc: BarSeries) -> None:
    with pytest.raises(
        Exception, match=r"a training window of 4 bars leaves no labelled sample with a horizon of 3 bars"
    ):
        backtest(ml(warmup=4), btc)
