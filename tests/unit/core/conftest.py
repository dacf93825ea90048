"""Shared helpers for the engine / fill / order / portfolio behaviour tests (also loaded by tests/unit/sim).

* ``bars(rows, ...)`` builds a tiny hand-made BarSeries from (open, high, low, close[, volume]) rows;
* ``Scripted`` is a strategy that, at engine step k, runs ``script[k](self)`` (a callable or a list of them),
  keeps what each action returned in ``self.placed[k]`` and records every order notification;
* ``run(script, rows, **kwargs)`` runs one Scripted strategy on one symbol and returns (result, strategy).

Timestamps start at T0 = 2024-01-01T00:00:00Z (a Monday) and step by the time frame (1 day by default).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pytest

from tradeforge import Strategy
from tradeforge.core.bars import BarSeries
from tradeforge.core.clock import NS_PER_DAY
from tradeforge.core.types import OrderStatus
from tradeforge.sim.backtest import run_backtest

T0 = 1_704_067_200_000_000_000  # 2024-01-01T00:00:00Z

Action = Callable[[Any], Any]


def make_bars(
    rows: Sequence[Sequence[float]],
    symbol: str = "X",
    timeframe: int = NS_PER_DAY,
    start: int = T0,
    ts: Sequence[int] | None = None,
) -> BarSeries:
    """rows of (open, high, low, close) or (open, high, low, close, volume); volume defaults to 1e6."""
    arr = np.array([list(r) + ([1e6] if len(r) == 4 else []) for r in rows], dtype=np.float64)
    stamps = list(ts) if ts is not None else [start + i * timeframe for i in range(len(rows))]
    return BarSeries.from_arrays(symbol, timeframe, stamps, arr[:, 0], arr[:, 1], arr[:, 2], arr[:, 3], arr[:, 4])


class Scripted(Strategy):
    """At step k run script[k](self) (or each callable of a list); record orders and trades it sees."""

    def __init__(
        self, script: dict[int, Action | list[Action]] | None = None, name: str | None = None, **params: Any
    ) -> None:
        super().__init__(**params)
        if name is not None:
            self._name = name
        self.script = dict(script or {})
        self.placed: dict[int, list[Any]] = {}
        self.order_events: list[tuple[int, int, OrderStatus, str]] = []  # (step, order id, status, reason)
        self.trade_events: list[Any] = []
        self.bar_steps: list[int] = []

    def on_bar(self) -> None:
        k = self.engine.step
        self.bar_steps.append(k)
        action = self.script.get(k)
        if action is None:
            return
        actions = action if isinstance(action, list) else [action]
        self.placed[k] = [a(self) for a in actions]

    def on_order(self, order: Any) -> None:
        self.order_events.append((self.engine.step, order.id, order.status, order.reject_reason))

    def on_trade(self, event: Any) -> None:
        self.trade_events.append(event)

    def first(self, k: int) -> Any:
        """What the first action at step k returned (an Order for buy/sell, a list for close)."""
        return self.placed[k][0]


def run(
    script: dict[int, Action | list[Action]],
    rows: Sequence[Sequence[float]],
    *,
    symbol: str = "X",
    timeframe: int = NS_PER_DAY,
    **kwargs: Any,
) -> tuple[Any, Scripted]:
    strat = Scripted(script)
    kwargs.setdefault("cash", 10_000.0)
    result = run_backtest(strat, make_bars(rows, symbol=symbol, timeframe=timeframe), **kwargs)
    return result, strat


def statuses(order: Any) -> list[OrderStatus]:
    return [s for _, s in order.history]


def fills_of(result: Any, order: Any) -> list[Any]:
    return [f for f in result.fills if f.order_id == order.id]


def assert_fills_inside_bars(result: Any) -> None:
    """No fill lies outside the [low, high] of the bar of its symbol at the fill's step."""
    for f in result.fills:
        series = result.bars[f.symbol]
        i = int(np.searchsorted(series.ts, f.ts))
        assert series.ts[i] == f.ts
        assert series.low[i] - 1e-9 <= f.price <= series.high[i] + 1e-9, (f, series.low[i], series.high[i])


class Helpers:
    """The helpers above, handed to tests through the ``tf`` fixture."""

    T0 = T0
    make_bars = staticmethod(make_bars)
    Scripted = Scripted
    run = staticmethod(run)
    statuses = staticmethod(statuses)
    fills_of = staticmethod(fills_of)
    assert_fills_inside_bars = staticmethod(assert_fills_inside_bars)


@pytest.fixture
def tf() -> type[Helpers]:
    return Helpers
