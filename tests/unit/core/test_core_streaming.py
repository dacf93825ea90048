"""The streaming path the live runner uses: bars pushed one at a time, steps run when the clock passes them."""

from __future__ import annotations

import pytest

from tradeforge import DataError, Strategy
from tradeforge.core.clock import NS_PER_MINUTE
from tradeforge.core.engine import Engine
from tradeforge.core.events import Bar
from tradeforge.core.portfolio import Portfolio
from tradeforge.core.types import Instrument
from tradeforge.sim.broker import SimulatedBroker

T0 = 1_704_067_200 * 10**9


class Recorder(Strategy):
    def on_start(self) -> None:
        self.seen: list[tuple[int, float]] = []

    def on_bar(self) -> None:
        self.seen.append((self.now, self.data.close[-1]))


def engine_with(*symbols: str) -> tuple[Engine, Recorder]:
    engine = Engine(Portfolio(1_000.0, {s: Instrument(s) for s in symbols}), SimulatedBroker())
    for s in symbols:
        engine.add_stream(s, NS_PER_MINUTE)
    strategy = Recorder()
    engine.add_strategy(strategy, capital=1_000.0)
    engine.start()
    return engine, strategy


def bar(symbol: str, k: int, close: float) -> Bar:
    return Bar(symbol, T0 + k * NS_PER_MINUTE, close, close + 1, close - 1, close, 1.0, NS_PER_MINUTE)


def test_a_step_runs_only_once_the_clock_passes_the_bars_close() -> None:
    engine, strategy = engine_with("A", "B")
    engine.push_bar(bar("A", 0, 10.0))
    engine.advance(T0 + NS_PER_MINUTE - 1)  # bar 0 has not closed yet: B's bar may still come
    assert strategy.seen == []
    engine.push_bar(bar("B", 0, 20.0))
    engine.advance(T0 + NS_PER_MINUTE)  # closed
    assert strategy.seen == [(T0, 10.0)]
    assert len(engine.view("B", None).close) == 1


def test_a_later_bar_runs_the_gathered_step_and_bad_order_is_refused() -> None:
    engine, strategy = engine_with("A")
    engine.push_bar(bar("A", 0, 10.0))
    engine.push_bar(bar("A", 1, 11.0))  # a later timestamp: step 0 must have closed
    assert strategy.seen == [(T0, 10.0)]
    with pytest.raises(DataError, match="duplicate"):
        engine.push_bar(bar("A", 1, 11.0))
    engine.flush()
    with pytest.raises(DataError, match="out of order"):
        engine.push_bar(bar("A", 0, 12.0))
    with pytest.raises(DataError, match=r"high .* < low"):
        engine.push_bar(Bar("A", T0 + 5 * NS_PER_MINUTE, 10.0, 9.0, 11.0, 10.0, 1.0, NS_PER_MINUTE))
