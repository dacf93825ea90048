"""Live-trading risk limits: max_orders_per_minute (rolling 60 s of engine time) and max_daily_loss (per UTC day).
Also a regression: several "reducing" orders in one bar could flip a position beyond max_position_qty."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tradeforge.core.clock import NS_PER_DAY, NS_PER_HOUR, NS_PER_SECOND
from tradeforge.core.errors import ConfigError
from tradeforge.core.risk import RiskCheckInput, RiskEngine, RiskLimits
from tradeforge.core.types import OrderStatus

S = OrderStatus
T0 = 1_704_067_200_000_000_000  # 2024-01-01T00:00:00Z
TEN_S = 10 * NS_PER_SECOND
SIX_H = 6 * NS_PER_HOUR
FLAT = (100.0, 102.0, 98.0, 100.0)


def buy(qty: float = 1.0, **kwargs: Any) -> Any:
    return lambda s: s.buy(qty, **kwargs)


def entry(now: int, equity: float | None = None, reduces: bool = False) -> RiskCheckInput:
    return RiskCheckInput(
        "X", -1.0 if reduces else 1.0, 100.0, 1.0, 1.0 if reduces else 0.0, 0.0, 0.0, reduces, now, equity
    )


# ================================================================ config
@pytest.mark.parametrize("field", ["max_orders_per_minute", "max_daily_loss"])
@pytest.mark.parametrize("bad", [0, -1, -2.5, math.nan, math.inf, True, False, "5"])
def test_bad_values_are_refused(field: str, bad: Any) -> None:
    with pytest.raises(ConfigError, match=f"risk limit {field} must be a positive"):
        RiskLimits(**{field: bad})


def test_orders_per_minute_must_be_a_whole_number() -> None:
    with pytest.raises(ConfigError, match=r"max_orders_per_minute must be a positive whole number or None, got 5\.5"):
        RiskLimits(max_orders_per_minute=5.5)  # type: ignore[arg-type]


def test_bools_are_refused_for_the_existing_limits_too() -> None:
    with pytest.raises(ConfigError, match="max_position_qty must be a positive number or None, got True"):
        RiskLimits(max_position_qty=True)


def test_good_values_and_activation() -> None:
    assert RiskLimits(max_orders_per_minute=3, max_daily_loss=250).max_daily_loss == 250
    assert RiskEngine(RiskLimits()).active is False
    assert RiskEngine(RiskLimits(max_orders_per_minute=1)).active is True
    assert RiskEngine(RiskLimits(max_daily_loss=1.5)).active is True
    assert RiskEngine(RiskLimits(max_daily_loss=1.5)).counts_orders is False


# ================================================== max_orders_per_minute
def test_sixth_order_within_a_minute_is_rejected_and_allowed_after_the_window(tf: Any) -> None:
    # 10 s bars, one buy per bar at 0, 10, ..., 60 s, then two at 70 s
    script: dict[int, Any] = {k: buy() for k in range(7)}
    script[7] = [buy(), buy()]
    result, strat = tf.run(script, [FLAT] * 9, timeframe=TEN_S, risk=RiskLimits(max_orders_per_minute=5))
    status = [o.status for k in range(8) for o in strat.placed[k]]
    assert status == [S.FILLED] * 5 + [S.REJECTED, S.FILLED, S.FILLED, S.REJECTED]
    sixth = strat.first(5)
    assert sixth.history == [(T0 + 5 * TEN_S, S.REJECTED)]
    assert sixth.reject_reason == (
        "max_orders_per_minute 5 reached: 5 orders since 2024-01-01T00:00:00Z; next allowed at 2024-01-01T00:01:00Z"
    )
    # at 60 s the order of 0 s has left the window (0, 60]; at 70 s the window (10, 70] holds 20, 30, 40, 60 s,
    # so one more order fits and the next is refused until the order of 20 s leaves
    assert strat.placed[7][1].reject_reason == (
        "max_orders_per_minute 5 reached: 5 orders since 2024-01-01T00:00:20Z; next allowed at 2024-01-01T00:01:20Z"
    )
    assert len(result.fills) == 7


def test_orders_in_one_bar_share_the_window(tf: Any) -> None:
    _result, strat = tf.run({0: [buy()] * 7}, [FLAT] * 3, timeframe=TEN_S, risk=RiskLimits(max_orders_per_minute=5))
    assert [o.status for o in strat.placed[0]] == [S.FILLED] * 5 + [S.REJECTED] * 2


def test_reducing_orders_pass_the_rate_limit_but_count(tf: Any) -> None:
    script = {
        0: [buy()] * 5,  # the window is full
        1: [buy(), lambda s: s.close()],  # the entry is refused, the close passes (the 6th order)
        2: buy(),  # 6 orders since 0 s: the 5 at 0 s must leave before a new one fits
        6: buy(),  # 60 s: only the close of 10 s is left in the window
    }
    _result, strat = tf.run(script, [FLAT] * 8, timeframe=TEN_S, risk=RiskLimits(max_orders_per_minute=5))
    refused, (close,) = strat.placed[1]
    assert refused.status is S.REJECTED and "max_orders_per_minute 5 reached" in refused.reject_reason
    assert close.status is S.FILLED and close.reduce_only
    assert strat.first(2).reject_reason == (
        "max_orders_per_minute 5 reached: 6 orders since 2024-01-01T00:00:00Z; next allowed at 2024-01-01T00:01:00Z"
    )
    assert strat.first(6).status is S.FILLED


def test_attached_exits_count_toward_the_window(tf: Any) -> None:
    # the entry fills at the open of step 1 and sends a stop-loss and a take-profit: 3 orders in the window
    script = {0: buy(1, sl=90.0, tp=120.0), 1: [buy()] * 3}
    result, strat = tf.run(script, [FLAT] * 3, timeframe=TEN_S, risk=RiskLimits(max_orders_per_minute=5))
    legs = [o for o in result.orders if o.role in ("stop_loss", "take_profit")]
    assert [o.status for o in legs] == [S.ACCEPTED, S.ACCEPTED]  # working, not filled
    assert [o.status for o in strat.placed[1]] == [S.FILLED, S.FILLED, S.REJECTED]
    assert "5 orders since 2024-01-01T00:00:00Z" in strat.placed[1][2].reject_reason


def test_kill_switch_is_not_blocked_by_the_rate_limit(tf: Any) -> None:
    script = {0: [buy()] * 5, 1: lambda s: s.kill_switch("stop")}
    result, _strat = tf.run(script, [FLAT] * 3, timeframe=TEN_S, risk=RiskLimits(max_orders_per_minute=5))
    (flatten,) = [o for o in result.orders if o.role == "kill_switch"]
    assert flatten.status is S.FILLED and flatten.qty == 5.0


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 40), st.booleans()), min_size=1, max_size=60),
    st.integers(1, 6),
)
def test_accepted_entries_never_exceed_the_limit_in_any_window(steps: list[tuple[int, bool]], limit: int) -> None:
    """Orders every few seconds (gap in s, reduces); the engine counts every accepted order, and refuses an
    entry exactly when `limit` accepted orders already lie in the 60 s before it."""
    risk = RiskEngine(RiskLimits(max_orders_per_minute=limit))
    now = T0
    accepted: list[int] = []
    entries: list[int] = []
    for gap, reduces in steps:
        now += gap * NS_PER_SECOND
        in_window = sum(1 for t in accepted if t > now - 60 * NS_PER_SECOND)
        reason = risk.check(entry(now, reduces=reduces))
        if reduces:
            assert reason is None
        else:
            assert (reason is None) == (in_window < limit), (reason, in_window)
        if reason is None:
            accepted.append(now)
            if not reduces:
                entries.append(now)
    for t in entries:
        assert sum(1 for u in entries if t - 60 * NS_PER_SECOND < u <= t) <= limit


# ========================================================= max_daily_loss
# 6 h bars: steps 0-3 are 2024-01-01, steps 4-7 2024-01-02. Buy 10 at the open of step 1 (100); the close of
# step 1 (40) puts the equity 600 below the day's start of 10,000.
DAY_ROWS = [
    (100.0, 100.0, 100.0, 100.0),
    (100.0, 100.0, 40.0, 40.0),
    (100.0, 100.0, 100.0, 100.0),
    (100.0, 100.0, 100.0, 100.0),
    (100.0, 100.0, 100.0, 100.0),  # 2024-01-02 00:00
    (100.0, 100.0, 16.0, 16.0),
    (100.0, 100.0, 100.0, 100.0),
]


def test_daily_loss_blocks_entries_for_the_rest_of_the_day(tf: Any) -> None:
    script = {
        0: buy(10),  # first check of the day: the day starts at 10,000
        1: [buy(), lambda s: s.sell(5)],  # equity 9,400: the entry is refused, the reduction passes
        2: buy(),  # the equity is back at 10,000 but the day's limit was reached
        4: buy(),  # a new UTC day: entries resume (the day starts at 10,000 again)
        5: [buy(), lambda s: s.close()],  # 9,400 + 6 * 16 = 9,496: 504 below the new day's start
    }
    result, strat = tf.run(script, DAY_ROWS, timeframe=SIX_H, risk=RiskLimits(max_daily_loss=500))
    refused, reduce = strat.placed[1]
    reason = (
        "max_daily_loss 500.00 reached: equity 9,400.00 is 600.00 below the day's start 10,000.00 "
        "(UTC day 2024-01-01); new entries resume tomorrow"
    )
    assert refused.status is S.REJECTED and refused.reject_reason == reason
    assert refused.history == [(T0 + SIX_H, S.REJECTED)]
    assert reduce.status is S.FILLED and not reduce.reduce_only  # a plain sell that only reduces
    assert strat.first(2).status is S.REJECTED and strat.first(2).reject_reason == reason
    assert strat.first(4).status is S.FILLED
    refused2, (close,) = strat.placed[5]
    assert refused2.reject_reason == (
        "max_daily_loss 500.00 reached: equity 9,496.00 is 504.00 below the day's start 10,000.00 "
        "(UTC day 2024-01-02); new entries resume tomorrow"
    )
    assert close.status is S.FILLED and strat.position().qty == 0.0
    assert [f.qty for f in result.fills] == [10.0, 5.0, 1.0, 6.0]


def test_daily_loss_limit_not_reached_lets_entries_through(tf: Any) -> None:
    script = {0: buy(10), 1: buy()}  # 600 below the start: under a 700 limit
    _result, strat = tf.run(script, DAY_ROWS[:3], timeframe=SIX_H, risk=RiskLimits(max_daily_loss=700))
    assert strat.first(1).status is S.FILLED


def test_daily_loss_pure_engine_boundary_latch_and_reset() -> None:
    risk = RiskEngine(RiskLimits(max_daily_loss=100))
    noon = T0 + 12 * NS_PER_HOUR
    assert risk.check(entry(T0 + NS_PER_HOUR, 1_000.0)) is None  # the day starts at 1,000
    assert risk.day_start_equity == 1_000.0
    assert risk.check(entry(noon, 900.5)) is None
    assert risk.check(entry(noon, 900.0)) is not None  # exactly the limit: reached
    assert risk.check(entry(noon, 950.0, reduces=True)) is None
    assert "equity 900.00 is 100.00 below" in (risk.check(entry(noon, 2_000.0)) or "")  # latched for the day
    assert risk.check(entry(T0 + NS_PER_DAY, 800.0)) is None  # next UTC day: starts at 800
    assert (risk.day, risk.day_start_equity, risk.daily_loss_hit) == (T0 // NS_PER_DAY + 1, 800.0, None)


def test_no_equity_means_no_daily_loss_check() -> None:
    risk = RiskEngine(RiskLimits(max_daily_loss=100))
    assert risk.check(entry(T0, None)) is None and risk.day is None


# ============================================ max_position_qty regression
def test_several_reducing_orders_cannot_flip_beyond_max_position_qty(tf: Any) -> None:
    sell5 = lambda s: s.sell(5)  # noqa: E731
    script = {1: buy(5), 2: [sell5, sell5, sell5]}
    _result, strat = tf.run(script, [FLAT] * 4, risk=RiskLimits(max_position_qty=5))
    assert [o.status for o in strat.placed[2]] == [S.FILLED, S.FILLED, S.REJECTED]
    assert "position in X would be -10, beyond max_position_qty 5" in strat.placed[2][2].reject_reason
    assert strat.position().qty == -5.0


# ============================================ the day's start in streamed (paper / live) runs
def test_streamed_runs_take_the_days_starting_equity_at_its_first_bar() -> None:
    """Held from day 1; day 2 opens at 100 and falls to 94 before the strategy's next entry: the loss is counted
    from the day's first bar (6 x 10 units = 60 > 50), not from the equity when the entry is tried."""
    from tradeforge.core.engine import Engine
    from tradeforge.core.events import Bar
    from tradeforge.core.portfolio import Portfolio
    from tradeforge.core.strategy import Strategy
    from tradeforge.core.types import Instrument
    from tradeforge.sim.broker import SimulatedBroker

    class DipBuyer(Strategy):
        def on_start(self) -> None:
            self.placed: list[Any] = []

        def on_bar(self) -> None:
            n = len(self.data.close)
            if n == 1 or n == 8:  # day 1's first bar, then late on day 2
                self.placed.append(self.buy(10))

    engine = Engine(
        Portfolio(10_000.0, {"X": Instrument("X")}), SimulatedBroker(), RiskEngine(RiskLimits(max_daily_loss=50.0))
    )
    engine.add_stream("X", SIX_H)
    strat = DipBuyer()
    engine.add_strategy(strat, None, 10_000.0)
    closes = [100.0, 100.0, 100.0, 100.0, 99.0, 97.0, 95.0, 94.0, 94.0]  # bars 0-3: day 1; 4-8: day 2
    for k, c in enumerate(closes):
        engine.push_bar(Bar("X", T0 + k * SIX_H, c, c + 1.0, c - 1.0, c, 1_000.0, SIX_H))
    engine.flush()
    first, late = strat.placed
    assert first.status is S.FILLED and first.avg_fill_price == 100.0
    assert late.status is S.REJECTED
    assert late.reject_reason.startswith("max_daily_loss 50.00 reached: equity 9,940.00 is 60.00 below the day's start")
