"""Random-action strategies, run by Backtesting.py 0.6.6 and by tradeforge.compat: the same results.

Each seed picks a dataset slice (GOOG, EURUSD, BTCUSD, and tradeforge's BTC-PERP 1m, ETH-BTC 5m, 6EH4 1m and
AAPL daily samples), Backtest settings (cash, each commission form, spread, margin, trade_on_close, hedging,
exclusive_orders, finalize_trades) and a strategy whose next() draws its actions from a generator seeded the
same way in both libraries: market / limit / stop / stop-limit orders in units or as a fraction of margin, with
sl / tp and tags, position.close(portion), trade.close(portion), order.cancel(), trade.sl / trade.tp moved or
removed. The strategy logs what it sees after acting (equity, position, each open trade and working order) and
which actions raised (by exception kind); both logs, every statistic, the trades and the equity curve must
agree (floats to 1e-9 relative). Far more seeds were run while developing; these stay as a regression net.
"""

from __future__ import annotations

import math
import random
import warnings
from typing import Any

import backtesting
import numpy as np
import pandas as pd
import pytest
from backtesting.test import BTCUSD, EURUSD, GOOG

import tradeforge.compat as compat
from tradeforge.data import load_sample_frame

SEEDS = range(24)
KINDS = (AssertionError, ValueError, TypeError, RuntimeError, Exception)


def _frame(name: str) -> pd.DataFrame:
    frame = load_sample_frame(name).rename(columns=str.capitalize)
    frame.index = pd.DatetimeIndex(frame.index).tz_localize(None)
    return frame


@pytest.fixture(scope="module")
def datasets() -> dict[str, pd.DataFrame]:
    data = {"GOOG": GOOG, "EURUSD": EURUSD, "BTCUSD": BTCUSD}
    for name in ("BTC-PERP", "ETH-BTC", "6EH4", "AAPL"):
        data[name] = _frame(name)
    return data


def _kind(exc: BaseException) -> str:
    return next(k.__name__ for k in KINDS if isinstance(exc, k))


def random_actions(base: type, seed: int, warm: int, cash: float) -> type:
    """A strategy class on `base` (either library's Strategy) acting at random, reproducibly per seed."""

    class RandomActions(base):  # type: ignore[misc]
        def init(self) -> None:
            self.rng = random.Random(seed)
            self.log: list[tuple[Any, ...]] = []
            self.sma = self.I(lambda c: pd.Series(c).rolling(warm).mean(), self.data.Close)

        def attempt(self, what: str, action: Any) -> Any:
            try:
                return action()
            except Exception as exc:  # logged, compared between the libraries
                self.log.append((len(self.data), what, "raised", _kind(exc)))
                return None

        def place(self, n: int, c: float) -> None:
            rng = self.rng
            side = rng.choice((1, -1))
            if rng.random() < 0.5:
                size: float = rng.choice((0.1, 0.25, 0.5, 0.9999, 0.3))
            else:
                size = rng.randint(1, max(1, int(cash * 0.3 / c)))
            kw: dict[str, Any] = {}
            r = rng.random()
            if r < 0.25:
                kw["limit"] = c * (1 - side * rng.uniform(0, 0.02))
            elif r < 0.45:
                kw["stop"] = c * (1 + side * rng.uniform(0, 0.02))
            elif r < 0.55:
                kw["stop"] = c * (1 + side * rng.uniform(0, 0.02))
                kw["limit"] = kw["stop"] * (1 + side * rng.uniform(-0.01, 0.01))
            if rng.random() < 0.4:
                kw["sl"] = c * (1 - side * rng.uniform(0.005, 0.05))
            if rng.random() < 0.4:
                kw["tp"] = c * (1 + side * rng.uniform(0.005, 0.08))
            if rng.random() < 0.2:
                kw["tag"] = rng.randint(0, 3)
            order = self.attempt("order", lambda: (self.buy if side > 0 else self.sell)(size=size, **kw))
            if order is not None:
                self.log.append((n, "o", order.size, order.limit, order.stop, order.sl, order.tp, order.tag))

        def next(self) -> None:
            rng = self.rng
            c = float(self.data.Close[-1])
            n = len(self.data)
            for _ in range(rng.choice((0, 0, 1, 1, 2))):
                a = rng.random()
                if a < 0.35:
                    self.place(n, c)
                elif a < 0.45:
                    portion = rng.choice((1.0, 0.5, 0.3))
                    self.attempt("position.close", lambda: self.position.close(portion))  # noqa: B023
                elif a < 0.6 and self.trades:
                    trade = self.trades[rng.randrange(len(self.trades))]
                    portion = rng.choice((1.0, 0.5, 0.25))
                    self.attempt("trade.close", lambda: trade.close(portion))  # noqa: B023
                elif a < 0.7 and self.orders:
                    order = self.orders[rng.randrange(len(self.orders))]
                    self.attempt("cancel", order.cancel)
                elif 0.7 <= a < 0.85 and self.trades:
                    trade = self.trades[rng.randrange(len(self.trades))]
                    which = rng.choice(("sl", "tp"))
                    price = None
                    if rng.random() >= 0.2:
                        d = rng.uniform(0.005, 0.06) * (1 if trade.is_long else -1)
                        price = c * (1 - d) if which == "sl" else c * (1 + d)
                    self.attempt("set " + which, lambda: setattr(trade, which, price))  # noqa: B023
            pos = self.position
            state = (float(self.equity), pos.size, float(pos.pl), len(self.trades), len(self.orders), bool(pos))
            self.log.append((n, "state", *state, len(self.closed_trades)))
            for t in self.trades:
                self.log.append((n, "trade", t.size, t.entry_bar, float(t.entry_price), t.sl, t.tp, t.tag, float(t.pl)))
            for o in self.orders:
                self.log.append((n, "order", o.size, o.limit, o.stop, o.sl, o.tp, o.is_contingent, o.tag))

    return RandomActions


def _settings(rng: random.Random) -> dict[str, Any]:
    cfg: dict[str, Any] = {"cash": rng.choice((10_000, 100_000, 1_000_000))}
    r = rng.random()
    if r < 0.3:
        cfg["commission"] = rng.choice((0.0, 0.001, 0.002))
    elif r < 0.5:
        cfg["commission"] = (rng.choice((0.0, 1.0, 5.0)), rng.choice((0.0, 0.001)))
    elif r < 0.6:
        cfg["commission"] = lambda size, price: abs(size) * price * 0.0015 + 1
    cfg["spread"] = rng.choice((0.0, 0.0, 0.0005))
    cfg["margin"] = rng.choice((1.0, 1.0, 0.5, 0.1))
    cfg["trade_on_close"] = rng.random() < 0.25
    cfg["hedging"] = rng.random() < 0.25
    cfg["exclusive_orders"] = rng.random() < 0.2
    cfg["finalize_trades"] = rng.random() < 0.5
    return cfg


def _same(x: Any, y: Any) -> bool:
    if isinstance(x, float) and isinstance(y, float):
        return x == y or math.isclose(x, y, rel_tol=1e-9, abs_tol=1e-12) or (math.isnan(x) and math.isnan(y))
    if isinstance(x, tuple) and isinstance(y, tuple):
        return len(x) == len(y) and all(_same(u, v) for u, v in zip(x, y, strict=True))
    try:
        return bool(x == y) or bool(pd.isna(x) and pd.isna(y))
    except (TypeError, ValueError):
        return False


@pytest.mark.parametrize("seed", SEEDS)
def test_random_actions_match_backtesting_py(seed: int, datasets: dict[str, pd.DataFrame]) -> None:
    rng = random.Random(seed)
    name = rng.choice(list(datasets))
    full = datasets[name]
    n = rng.choice((150, 300, 600))
    start = rng.randrange(0, max(1, len(full) - n))
    data = full.iloc[start : start + n]
    cfg = _settings(rng)
    warm = rng.choice((1, 5, 20))
    results = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for lib in (backtesting, compat):
            strategy = random_actions(lib.Strategy, seed, warm, cfg["cash"])
            results[lib.__name__] = lib.Backtest(data, strategy, **cfg).run()
    bt, tf = results["backtesting"], results["tradeforge.compat"]
    assert list(tf.index) == list(bt.index)
    for key in bt.index:
        if not key.startswith("_"):
            assert _same(tf[key], bt[key]), (name, key, tf[key], bt[key])
    log_bt, log_tf = bt["_strategy"].log, tf["_strategy"].log
    assert log_bt  # a state line per next() call at least (a run that runs out of money stops early)
    for i, (x, y) in enumerate(zip(log_bt, log_tf, strict=False)):
        assert _same(tuple(y), tuple(x)), (name, i, "tradeforge:", y, "Backtesting.py:", x)
    assert len(log_tf) == len(log_bt)
    cols = ["Size", "EntryBar", "ExitBar", "EntryPrice", "ExitPrice", "PnL"]
    a, b = tf["_trades"], bt["_trades"]
    assert len(a) == len(b)
    np.testing.assert_allclose(a[cols].to_numpy(float), b[cols].to_numpy(float), rtol=1e-9)
    assert [str(x) for x in a["Tag"]] == [str(x) for x in b["Tag"]]
    np.testing.assert_allclose(tf["_equity_curve"]["Equity"], bt["_equity_curve"]["Equity"], rtol=1e-9)
