"""Strategy API: parameters, errors raised from callbacks, bad sizes, look-ahead protection."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from tradeforge import ConfigError, LookAheadError, Strategy, StrategyError
from tradeforge.core.clock import NS_PER_DAY
from tradeforge.sim.backtest import run_backtest

T0 = 1_704_067_200_000_000_000
ROWS = [(100.0 + i, 102.0 + i, 98.0 + i, 101.0 + i) for i in range(12)]


class TwoParams(Strategy):
    fast = 10
    slow = 30


def test_parameters_are_declared_class_attributes() -> None:
    assert TwoParams.parameters() == {"fast": 10, "slow": 30}
    s = TwoParams(fast=5)
    assert s.fast == 5 and s.params == {"fast": 5, "slow": 30}
    assert TwoParams.fast == 10  # the class default is untouched


def test_unknown_parameter_names_it_and_the_known_ones() -> None:
    with pytest.raises(ConfigError) as info:
        TwoParams(fats=5)
    message = str(info.value)
    assert "'fats'" in message and "TwoParams" in message and "fast, slow" in message


def test_strategy_without_parameters_says_none() -> None:
    with pytest.raises(ConfigError, match="none"):
        Strategy(x=1)


class Boom(Strategy):
    at = 2

    def on_bar(self) -> None:
        if len(self.data.close) - 1 == self.at:
            raise ValueError("boom")


@pytest.mark.parametrize("replay", [False, True])
def test_exception_in_on_bar_names_strategy_bar_time_and_cause(tf: Any, replay: bool) -> None:
    with pytest.raises(StrategyError) as info:
        run_backtest(Boom(), tf.make_bars(ROWS), replay=replay)
    err = info.value
    message = str(err)
    assert "Boom" in message and "on_bar" in message
    assert "2024-01-03T00:00:00Z" in message
    assert "ValueError: boom" in message
    assert (err.strategy, err.callback, err.when) == ("Boom", "on_bar", "2024-01-03T00:00:00Z")
    assert isinstance(err.original, ValueError) and err.__cause__ is err.original


def test_exception_in_on_bar_with_several_symbols(tf: Any) -> None:
    data = [tf.make_bars(ROWS, symbol="A"), tf.make_bars(ROWS, symbol="B")]
    with pytest.raises(StrategyError, match=r"'Boom' raised in on_bar at bar 2024-01-03T00:00:00Z: ValueError"):
        run_backtest(Boom(), data)


def test_second_strategy_error_names_the_right_strategy(tf: Any) -> None:
    class Quiet(Strategy):
        pass

    with pytest.raises(StrategyError) as info:
        run_backtest([Quiet(), Boom()], tf.make_bars(ROWS))
    assert info.value.strategy == "Boom"


def test_exception_in_on_start(tf: Any) -> None:
    class BadStart(Strategy):
        def on_start(self) -> None:
            raise KeyError("missing")

    with pytest.raises(StrategyError) as info:
        run_backtest(BadStart(), tf.make_bars(ROWS))
    assert info.value.callback == "on_start" and "BadStart" in str(info.value) and "KeyError" in str(info.value)


@pytest.mark.parametrize("size", [0, -1, -0.5, math.nan, math.inf])
def test_bad_size_is_a_strategy_error_wrapping_a_config_error(tf: Any, size: float) -> None:
    with pytest.raises(StrategyError) as info:
        tf.run({1: lambda s: s.buy(size=size)}, ROWS)
    assert isinstance(info.value.original, ConfigError)
    assert "size" in str(info.value.original) and "2024-01-02T00:00:00Z" in str(info.value)


@pytest.mark.parametrize(
    ("call", "words"),
    [
        (lambda s: s.sell(size=0), "size"),
        (lambda s: s.buy(fraction=1.5), "fraction"),
        (lambda s: s.buy(2, fraction=0.5), "not both"),
        (lambda s: s.buy(1, limit=-5.0), "limit"),
        (lambda s: s.buy(1, trail=2.0, limit=100.0), "trailing"),
        (lambda s: s.sell(1, trail_percent=1.5), "trail_percent"),
        (lambda s: s.close(fraction=0), "fraction"),
        (lambda s: s.buy(1, symbol="NOPE"), "NOPE"),
    ],
)
def test_other_bad_order_arguments(tf: Any, call: Any, words: str) -> None:
    with pytest.raises(StrategyError) as info:
        tf.run({1: call}, ROWS)
    assert isinstance(info.value.original, ConfigError) and words in str(info.value.original)


def test_orders_cannot_be_placed_in_on_start(tf: Any) -> None:
    class Early(Strategy):
        def on_start(self) -> None:
            self.buy(1)

    with pytest.raises(StrategyError) as info:
        run_backtest(Early(), tf.make_bars(ROWS))
    assert isinstance(info.value.original, ConfigError) and "on_bar" in str(info.value.original)


# ------------------------------------------------------------------------------------------------ look-ahead
class Watcher(Strategy):
    def on_start(self) -> None:
        self.sma = self.I(lambda x: np.cumsum(x) / np.arange(1, len(x) + 1), self.data.close, name="mean")
        self.seen: list[tuple[Any, ...]] = []

    def on_bar(self) -> None:
        d = self.data
        self.seen.append(
            (
                self.engine.step,
                len(d.close),
                len(d.open),
                len(d.ts),
                len(self.sma),
                d.close[-1],
                d.ts[-1],
                self.now,
                self.sma[-1],
                len(d),
            )
        )


@pytest.mark.parametrize("replay", [False, True])
def test_a_strategy_only_ever_sees_closed_bars(tf: Any, replay: bool) -> None:
    bars = tf.make_bars(ROWS)
    strat = Watcher()
    run_backtest(strat, bars, replay=replay)
    assert len(strat.seen) == len(ROWS)
    for k, (step, n_close, n_open, n_ts, n_ind, last, ts, now, mean, n) in enumerate(strat.seen):
        assert step == k and n_close == n_open == n_ts == n_ind == n == k + 1
        assert last == bars.close[k] and ts == now == T0 + k * NS_PER_DAY
        assert mean == pytest.approx(float(np.mean(bars.close[: k + 1])))


def test_indexing_past_the_latest_bar_fails(tf: Any) -> None:
    seen = []

    def peek(s: Any) -> None:
        try:
            s.data.close[len(s.data.close)]
        except IndexError:
            seen.append("no future bar")

    tf.run({3: peek}, ROWS)
    assert seen == ["no future bar"]


def test_an_indicator_that_peeks_ahead_raises_look_ahead_error(tf: Any) -> None:
    class Cheat(Strategy):
        def on_start(self) -> None:
            self.next_close = self.I(lambda x: np.roll(x, -1), self.data.close, name="tomorrow")

    with pytest.raises(LookAheadError) as info:
        run_backtest(Cheat(), tf.make_bars(ROWS))
    assert "tomorrow" in str(info.value) and "looks ahead" in str(info.value)


def test_look_ahead_is_detected_however_it_is_reported(tf: Any) -> None:
    """Weaker form of the test above: the LookAheadError must at least be the cause of what is raised."""

    class Cheat(Strategy):
        def on_start(self) -> None:
            self.next_close = self.I(lambda x: np.roll(x, -1), self.data.close, name="tomorrow")

    with pytest.raises((LookAheadError, StrategyError)) as info:
        run_backtest(Cheat(), tf.make_bars(ROWS))
    err = info.value
    cause = err if isinstance(err, LookAheadError) else err.original
    assert isinstance(cause, LookAheadError) and "tomorrow" in str(cause)


def test_centered_rolling_mean_is_look_ahead(tf: Any) -> None:
    def centered(x: np.ndarray) -> np.ndarray:
        out = np.full(len(x), np.nan)
        out[1:-1] = (x[:-2] + x[1:-1] + x[2:]) / 3
        return out

    class Cheat(Strategy):
        def on_start(self) -> None:
            self.I(centered, self.data.close)

    with pytest.raises((LookAheadError, StrategyError)) as info:
        run_backtest(Cheat(), tf.make_bars(ROWS))
    err = info.value
    assert isinstance(err if isinstance(err, LookAheadError) else err.original, LookAheadError)


def test_crossover_accepts_numbers_on_either_side() -> None:
    from tradeforge import crossover

    assert crossover([1.0, 3.0], 2.0)
    assert not crossover([3.0, 1.0], 2.0)
    assert crossover(2.0, [3.0, 1.0])
    assert not crossover(2.0, [1.0, 3.0])
    assert crossover([1.0, 3.0], [2.0, 2.0])
    assert not crossover([1.0], [2.0])
    assert not crossover(2.0, [1.0])
    assert not crossover([float("nan"), 3.0], [2.0, 2.0])
