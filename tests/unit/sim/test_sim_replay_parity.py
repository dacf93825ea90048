"""replay=True (bars pushed one at a time, the paper/live path) gives exactly what the batch run gives."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from tradeforge import Strategy, crossover
from tradeforge.core.bars import BarSeries
from tradeforge.core.clock import NS_PER_DAY
from tradeforge.data import load_sample
from tradeforge.data.samples import sample_instrument
from tradeforge.sim.backtest import run_backtest
from tradeforge.sim.feed import HistoricalFeed, SimulatedClock


def load(name: str, n: int) -> BarSeries:
    return load_sample(name).slice(0, n)


def sma(x: np.ndarray, n: int) -> np.ndarray:
    out = np.full(len(x), np.nan)
    if len(x) >= n:
        cs = np.cumsum(np.asarray(x, dtype=np.float64))
        out[n - 1 :] = (cs[n - 1 :] - np.concatenate([[0.0], cs[:-n]])) / n
    return out


class Busy(Strategy):
    """Uses every kind of order: limit entries with sl/tp and an expiry, stop entries, trailing stops, close."""

    fast = 10
    slow = 30
    entry_off = 0.01  # limit entries this far below the close, stop entries twice as far
    sl_off = 0.05
    tp_off = 0.08
    short_size = 3.0
    trail = 2.0

    def on_start(self) -> None:
        self.f = self.I(sma, self.data.close, self.fast)
        self.s = self.I(sma, self.data.close, self.slow)
        self.events: list[tuple[int, int, str]] = []

    def on_order(self, order: Any) -> None:
        self.events.append((self.engine.step, order.id, order.status.value))

    def on_bar(self) -> None:
        c = self.data.close[-1]
        k = len(self.data.close)
        pos = self.position()
        if crossover(self.f, self.s):
            if pos.is_short:
                self.close()
            self.buy(
                fraction=0.5,
                limit=round(c * (1 - self.entry_off), 2),
                sl=round(c * (1 - self.sl_off), 2),
                tp=round(c * (1 + self.tp_off), 2),
                valid_for="5d",
                tag="long",
            )
        elif crossover(self.s, self.f):
            if pos.is_long:
                self.close(fraction=0.5)
            self.sell(
                self.short_size,
                stop=round(c * (1 - 2 * self.entry_off), 2),
                sl=round(c * (1 + self.sl_off), 2),
                tp=round(c * (1 - self.tp_off), 2),
                tif="day",
            )
        if k % 97 == 0 and pos:
            self.sell(1, trail_percent=0.03) if pos.is_long else self.buy(1, trail=self.trail)
        if k % 250 == 0:
            for order in self.orders:
                if order.role == "entry":
                    self.cancel(order)


def order_row(o: Any) -> tuple[Any, ...]:
    avg = None if math.isnan(o.avg_fill_price) else o.avg_fill_price
    return (
        o.id,
        o.strategy,
        o.symbol,
        o.side,
        o.type,
        o.qty,
        o.status,
        o.filled_qty,
        avg,
        o.fees,
        o.limit,
        o.stop,
        o.tif,
        o.expire_at,
        o.parent_id,
        o.oco_id,
        o.trade_id,
        o.role,
        o.reject_reason,
        tuple(o.history),
    )


def trade_row(t: Any) -> tuple[Any, ...]:
    exit_price = None if math.isnan(t.exit_price) else t.exit_price
    return (
        t.id,
        t.strategy,
        t.symbol,
        t.size,
        t.entry_price,
        t.entry_ts,
        t.entry_bar,
        t.entry_order_id,
        t.entry_fee,
        exit_price,
        t.exit_ts,
        t.exit_bar,
        t.exit_order_id,
        t.exit_fee,
        t.exit_reason,
        t.tag,
        t.sl_order_id,
        t.tp_order_id,
    )


def assert_same(batch: Any, replay: Any) -> None:
    assert [order_row(o) for o in replay.orders] == [order_row(o) for o in batch.orders]
    assert replay.fills == batch.fills
    assert [trade_row(t) for t in replay.trades] == [trade_row(t) for t in batch.trades]
    assert np.array_equal(replay.timestamps, batch.timestamps)
    assert np.array_equal(replay.equity, batch.equity)
    assert np.array_equal(replay.cash, batch.cash)
    assert replay.fees_paid == batch.fees_paid


KW = {"cash": 100_000.0, "commission": 0.001, "slippage": 0.0005}


def test_replay_equals_batch_on_goog() -> None:
    bars = load("GOOG", 1500)
    batch_strategy, replay_strategy = Busy(), Busy()
    batch = run_backtest(batch_strategy, bars, **KW)
    replay = run_backtest(replay_strategy, bars, replay=True, **KW)
    # the run must actually exercise the interesting paths
    roles = {o.role for o in batch.orders}
    assert {"entry", "stop_loss", "take_profit", "exit"} <= roles
    kinds = {o.type.value for o in batch.orders if o.filled_qty}
    assert {"limit", "stop", "market"} <= kinds
    statuses = {o.status.value for o in batch.orders}
    assert {"filled", "cancelled", "expired"} <= statuses
    assert len(batch.closed_trades) >= 10
    assert_same(batch, replay)
    assert replay_strategy.events == batch_strategy.events


def test_replay_equals_batch_on_btc_perp_minutes() -> None:
    bars = load("BTC-PERP", 1500)
    params = {
        "fast": 5,
        "slow": 20,
        "entry_off": 0.0003,
        "sl_off": 0.002,
        "tp_off": 0.003,
        "short_size": 0.5,
        "trail": 20.0,
    }
    kw = {**KW, "instruments": {"BTC-PERP": sample_instrument("BTC-PERP")}}
    batch = run_backtest(Busy(**params), bars, **kw)
    replay = run_backtest(Busy(**params), bars, replay=True, **kw)
    assert len(batch.fills) > 20 and len({o.role for o in batch.orders if o.filled_qty}) >= 3
    assert_same(batch, replay)


def test_replay_equals_batch_with_gappy_symbols_and_partial_fills(tf: Any) -> None:
    rng = np.random.default_rng(7)
    n = 120

    def series(symbol: str, keep: np.ndarray) -> BarSeries:
        close = 100 * np.exp(np.cumsum(rng.normal(0, 0.02, n)))
        open_ = np.concatenate([[100.0], close[:-1]]) * (1 + rng.normal(0, 0.005, n))
        high = np.maximum(open_, close) * (1 + np.abs(rng.normal(0, 0.01, n)))
        low = np.minimum(open_, close) * (1 - np.abs(rng.normal(0, 0.01, n)))
        vol = rng.integers(5, 50, n).astype(float)
        ts = tf.T0 + np.arange(n) * NS_PER_DAY
        return BarSeries.from_arrays(
            symbol, NS_PER_DAY, ts[keep], open_[keep], high[keep], low[keep], close[keep], vol[keep]
        )

    keep_b = rng.random(n) > 0.3
    data = [series("A", np.ones(n, dtype=bool)), series("B", keep_b)]

    class Both(Strategy):
        def on_bar(self) -> None:
            k = self.engine.step
            if k % 7 == 0:
                self.buy(20, symbol="A", sl=self.data.close[-1] * 0.9)
            if k % 11 == 0:
                self.close("A")
            if k % 5 == 0:
                b = self.data_for("B")
                self.sell(15, symbol="B", limit=b.close[-1] * 1.01, valid_for="3d")
            if k % 13 == 0:
                self.close("B")

    kw = {"cash": 1_000_000.0, "max_volume_fraction": 0.5, "commission": (1.0, 0.0005)}
    batch = run_backtest(Both(), data, **kw)
    replay = run_backtest(Both(), data, replay=True, **kw)
    assert any(
        o.history and o.history[-1][1].value == "filled" and any(s.value == "partially_filled" for _, s in o.history)
        for o in batch.orders
    )
    assert_same(batch, replay)


def test_feed_timeline_with_gaps(tf: Any) -> None:
    a = tf.make_bars([(1, 1, 1, 1)] * 4, symbol="A")
    b = tf.make_bars([(2, 2, 2, 2)] * 2, symbol="B", ts=[tf.T0 + NS_PER_DAY, tf.T0 + 3 * NS_PER_DAY])
    feed = HistoricalFeed([a, b])
    assert len(feed) == 4
    assert feed.bar_index["A"] is None
    assert feed.bar_index["B"].tolist() == [-1, 0, -1, 1]
    assert [(bar.symbol, (bar.ts - tf.T0) // NS_PER_DAY) for bar in feed.bars()] == [
        ("A", 0),
        ("A", 1),
        ("B", 1),
        ("A", 2),
        ("A", 3),
        ("B", 3),
    ]


def test_simulated_clock_never_goes_back() -> None:
    from tradeforge.core.errors import ConfigError

    clock = SimulatedClock(10)
    clock.advance_to(20)
    assert clock.now() == 20
    with pytest.raises(ConfigError):
        clock.advance_to(19)
