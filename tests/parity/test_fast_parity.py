"""tradeforge.fast against the event engine: the same signal strategy, run through run_backtest (one run per
column) and through one kernel call (every column at once), must give the same trades, fills and equity.

The engine side is a Strategy that reads precomputed signal arrays and places orders the way the kernel's
documented rules say (tradeforge/fast/simulate.py): it checks a position's trailing stop first, then the
signals; entries are buy()/sell() with fraction= (percent), size= (units) or size=value/close (value); the
stop-loss and take-profit are attached to the entry (so they work on the entry bar) and moved to fractions of
the actual fill price in on_trade; the trailing stop is an ordinary trailing-stop order cancelled when its
trade closes.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import talib

from tradeforge.core.bars import BarSeries
from tradeforge.core.types import Instrument, OrderStatus
from tradeforge.data import load_sample, sample_instrument
from tradeforge.fast import simulate
from tradeforge.fast.records import EXIT_REASONS, ORDER_KINDS
from tradeforge.research.strategy import SignalRules
from tradeforge.sim.backtest import run_backtest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from common import random_walk

RTOL = 1e-9
ENGINE_REASON = {"exit": "signal", "stop_loss": "stop_loss", "take_profit": "take_profit", "trailing_stop": "trailing"}


class SignalStrategy(SignalRules):
    """Trades precomputed signal arrays with the kernel's rules (tradeforge.research.strategy.SignalRules, the
    same rules FastSignalStrategy applies to a signal function's output)."""

    le: Any = None
    lx: Any = None
    se: Any = None
    sx: Any = None
    closes: Any = None

    def current_signals(self) -> tuple[bool, bool, bool, bool]:
        i = self.engine.step
        return bool(self.le[i]), bool(self.lx[i]), bool(self.se[i]), bool(self.sx[i])


@dataclass
class Market:
    name: str
    series: BarSeries
    instrument: Instrument
    cash: float
    up: np.ndarray = field(init=False)
    down: np.ndarray = field(init=False)
    scale: float = field(init=False)  # median bar range as a fraction of the close

    def __post_init__(self) -> None:
        c = self.series.close
        fast_ma, slow_ma = talib.SMA(c, 5), talib.SMA(c, 20)
        self.up = np.zeros(len(c), dtype=bool)
        self.down = np.zeros(len(c), dtype=bool)
        self.up[1:] = (fast_ma[:-1] < slow_ma[:-1]) & (fast_ma[1:] > slow_ma[1:])
        self.down[1:] = (fast_ma[:-1] > slow_ma[:-1]) & (fast_ma[1:] < slow_ma[1:])
        self.scale = float(np.median((self.series.high - self.series.low) / c))


def _random_walk_market() -> Market:
    w = random_walk(6000, seed=7)
    series = BarSeries.from_arrays("RW", 60_000_000_000, w["ts"], w["open"], w["high"], w["low"], w["close"])
    return Market("random_walk", series, Instrument("RW"), 100_000.0)


def _sample_market(name: str, bars: int, cash: float) -> Market:
    series = load_sample(name)
    if len(series) > bars:
        series = series.slice(0, bars)
    return Market(name, series, sample_instrument(name), cash)


MARKETS = {
    "GOOG": lambda: _sample_market("GOOG", 10_000, 10_000.0),
    "BTC-PERP": lambda: _sample_market("BTC-PERP", 12_000, 100_000.0),
    "ETH-BTC": lambda: _sample_market("ETH-BTC", 10_000, 10.0),
    "EURUSD": lambda: _sample_market("EURUSD", 10_000, 100_000.0),
    "6EH4": lambda: _sample_market("6EH4", 6_000, 1_000_000.0),
    "random_walk": _random_walk_market,
}


@dataclass(frozen=True)
class Case:
    """One feature: which signals trade and the kernel keywords (stops as multiples of the bar range)."""

    name: str
    long: bool = True
    short: bool = False
    size: str = "percent"  # or "units" / "value" (sized from the market's cash and price) / "half"
    sl: float | None = None
    tp: float | None = None
    tsl: float | None = None
    fees: float = 0.0
    fixed_fees: float = 0.0  # per fill, as a fraction of the market's starting cash
    slippage: float = 0.0


CASES = [
    Case("long_only"),
    Case("short_only", long=False, short=True),
    Case("reversal", short=True),
    Case("size_units", short=True, size="units", fees=0.001),
    Case("size_value", short=True, size="value", fees=0.001),
    Case("size_percent", short=True, size="half", fees=0.001),
    Case("stop_loss", sl=1.5),
    Case("take_profit", tp=1.5),
    Case("trailing_stop", tsl=1.5),
    Case("both_touched", short=True, sl=0.4, tp=0.4),
    Case("stops_and_trailing", short=True, sl=2.0, tp=3.0, tsl=1.0, fees=0.001),
    Case("percent_fees", short=True, fees=0.002),
    Case("fixed_fees", short=True, fees=0.001, fixed_fees=1e-4),
    Case("slippage", short=True, sl=1.0, tsl=1.0, slippage=0.0005),
    Case("everything", short=True, size="value", sl=1.0, tp=2.0, tsl=1.5, fees=0.001, fixed_fees=5e-5, slippage=0.0003),
]


def _size(case: Case, market: Market) -> tuple[float, str]:
    price = float(np.median(market.series.close)) * market.instrument.multiplier
    if case.size == "units":  # about 80% of the cash: some entries cannot be paid for and are refused
        lots = np.floor(0.8 * market.cash / price / market.instrument.lot_size)
        return float(max(lots, 1.0) * market.instrument.lot_size), "units"
    if case.size == "value":
        return 0.6 * market.cash / market.instrument.multiplier, "value"
    return (0.5, "percent") if case.size == "half" else (1.0, "percent")


def _fraction(value: float | None, market: Market) -> float | None:
    return None if value is None else value * market.scale


def _engine_run(market: Market, case: Case, fill: str) -> Any:
    size, size_type = _size(case, market)
    never = np.zeros(len(market.series), dtype=bool)
    strategy = SignalStrategy(
        le=market.up if case.long else never,
        lx=market.down if case.long and not case.short else never,
        se=market.down if case.short else never,
        sx=market.up if case.short and not case.long else never,
        closes=market.series.close,
        size=size,
        size_type=size_type,
        sl=_fraction(case.sl, market),
        tp=_fraction(case.tp, market),
        tsl=_fraction(case.tsl, market),
    )
    return run_backtest(
        strategy,
        market.series,
        cash=market.cash,
        commission=(case.fixed_fees * market.cash, case.fees),
        slippage=case.slippage,
        fill_timing=fill,
        instruments={market.series.symbol: market.instrument},
    )


def _kernel_run(market: Market, cases: list[Case], fill: str) -> Any:
    n = len(market.series)
    never = np.zeros(n, dtype=bool)

    def stack(pick: Any) -> np.ndarray:
        return np.column_stack([pick(case) for case in cases])

    sizes = [_size(case, market) for case in cases]

    def stops(attr: str) -> np.ndarray:
        return np.array([_fraction(getattr(case, attr), market) or np.nan for case in cases])

    s = market.series
    return simulate(
        s.open,
        s.high,
        s.low,
        s.close,
        stack(lambda c: market.up if c.long else never),
        stack(lambda c: market.down if c.long and not c.short else never),
        stack(lambda c: market.down if c.short else never),
        stack(lambda c: market.up if c.short and not c.long else never),
        size=[x[0] for x in sizes],
        size_type=[x[1] for x in sizes],
        sl_stop=stops("sl"),
        tp_stop=stops("tp"),
        tsl_stop=stops("tsl"),
        fees=[c.fees for c in cases],
        fixed_fees=[c.fixed_fees * market.cash for c in cases],
        slippage=[c.slippage for c in cases],
        init_cash=market.cash,
        lot_size=market.instrument.lot_size,
        multiplier=market.instrument.multiplier,
        fill=fill,
    )


def assert_same(engine: Any, kernel: Any, column: int) -> None:
    """Trades, fills and equity of one kernel column equal the engine run's."""
    trades = kernel.column_trades(column)
    ours = engine.trades
    assert len(trades) == len(ours), f"{len(trades)} kernel trades, {len(ours)} engine trades"
    assert int(kernel.n_trades[column]) == len(engine.closed_trades)
    np.testing.assert_array_equal(trades["entry_idx"], [t.entry_bar for t in ours])
    np.testing.assert_array_equal(trades["exit_idx"], [t.exit_bar for t in ours])
    np.testing.assert_array_equal(trades["side"], [1 if t.size > 0 else -1 for t in ours])
    np.testing.assert_allclose(trades["size"], [abs(t.size) for t in ours], rtol=RTOL, atol=0)
    for field_name, attr in (("entry_price", "entry_price"), ("entry_fee", "entry_fee")):
        np.testing.assert_allclose(trades[field_name], [getattr(t, attr) for t in ours], rtol=RTOL, atol=0)
    closed = [t for t in ours if not t.is_open]
    done = trades[trades["exit_idx"] >= 0]
    np.testing.assert_allclose(done["exit_price"], [t.exit_price for t in closed], rtol=RTOL, atol=0)
    np.testing.assert_allclose(done["exit_fee"], [t.exit_fee for t in closed], rtol=RTOL, atol=0)
    np.testing.assert_allclose(done["pnl"], [t.pnl for t in closed], rtol=RTOL, atol=1e-9 * engine.initial_cash)
    np.testing.assert_allclose(done["return"], [t.return_pct for t in closed], rtol=RTOL, atol=1e-12)
    reasons = [EXIT_REASONS[r] for r in done["exit_reason"]]
    assert reasons == [ENGINE_REASON[t.exit_reason] for t in closed]
    fills = kernel.column_orders(column)
    assert len(fills) == len(engine.fills)
    np.testing.assert_array_equal(fills["idx"], [f.bar for f in engine.fills])
    np.testing.assert_array_equal(fills["side"], [int(f.side) for f in engine.fills])
    np.testing.assert_allclose(fills["size"], [f.qty for f in engine.fills], rtol=RTOL, atol=0)
    np.testing.assert_allclose(fills["price"], [f.price for f in engine.fills], rtol=RTOL, atol=0)
    np.testing.assert_allclose(fills["fee"], [f.fee for f in engine.fills], rtol=RTOL, atol=0)
    np.testing.assert_allclose(kernel.equity[:, column], engine.equity, rtol=RTOL, atol=0)
    assert kernel.final_equity[column] == pytest.approx(float(engine.equity[-1]), rel=RTOL)


def evidence(market: Market, kernel: Any, fill: str) -> dict[str, int]:
    """How often the rules under test actually decided something (so the parity above is not vacuous)."""
    trades = kernel.trades[kernel.trades["exit_idx"] >= 0]
    reason = trades["exit_reason"]
    names = list(EXIT_REASONS)
    stops = (reason == names.index("stop_loss")) | (reason == names.index("trailing"))
    j = trades["exit_idx"]
    exact = np.array([CASES[c].slippage == 0.0 for c in trades["column"]])
    counts = {
        "stop_loss": int((reason == names.index("stop_loss")).sum()),
        "take_profit": int((reason == names.index("take_profit")).sum()),
        "trailing": int((reason == names.index("trailing")).sum()),
        # a stop the bar opened beyond: filled at the open, not at its level
        "gap_through_stop": int((stops & exact & (trades["exit_price"] == market.series.open[j])).sum()),
        "reversal": 0,
        "both_touched": 0,
    }
    both = CASES.index(next(c for c in CASES if c.name == "both_touched"))
    case = CASES[both]
    for t in kernel.column_trades(both):
        if t["exit_reason"] != names.index("stop_loss"):
            continue
        k = t["exit_idx"]
        tp_frac = _fraction(case.tp, market) or 0.0
        tp = t["entry_price"] * (1.0 + tp_frac) if t["side"] > 0 else t["entry_price"] * (1.0 - tp_frac)
        reached = market.series.high[k] >= tp if t["side"] > 0 else market.series.low[k] <= tp
        counts["both_touched"] += int(reached)
    fills = kernel.column_orders(CASES.index(next(c for c in CASES if c.name == "reversal")))
    kinds = [ORDER_KINDS[k] for k in fills["kind"]]
    counts["reversal"] = sum(
        1 for a, b, x, y in zip(kinds, kinds[1:], fills["idx"], fills["idx"][1:], strict=False)
        if a == "exit" and b == "entry" and x == y
    )  # fmt: skip
    if fill == "next_open":
        counts["exit_on_entry_bar"] = int((trades["entry_idx"] == trades["exit_idx"]).sum())
    return counts


@pytest.fixture(scope="module", params=list(MARKETS))
def market(request: pytest.FixtureRequest) -> Market:
    return MARKETS[request.param]()


@pytest.mark.parametrize("fill", ["next_open", "close"])
def test_every_feature_matches_the_engine(market: Market, fill: str) -> None:
    kernel = _kernel_run(market, CASES, fill)
    assert kernel.n_columns == len(CASES)
    failures = []
    refused = 0  # entries the cash could not pay for (units / value sizes): refused alike by both
    for column, case in enumerate(CASES):
        engine = _engine_run(market, case, fill)
        refused += sum(1 for o in engine.orders if o.status is OrderStatus.REJECTED)
        assert len(engine.closed_trades) > 3, f"{case.name} on {market.name} hardly trades: a weak test"
        try:
            assert_same(engine, kernel, column)
        except AssertionError as exc:
            failures.append(f"{case.name}: {exc}")
    assert not failures, f"{market.name} ({fill}) differs from the engine in:\n" + "\n".join(failures)
    seen = evidence(market, kernel, fill)
    if market.name != "GOOG":  # GOOG's rising prices and growing cash never refuse an entry
        seen["refused_entries"] = refused
    assert all(count > 0 for count in seen.values()), f"a rule never fired on {market.name} ({fill}): {seen}"
