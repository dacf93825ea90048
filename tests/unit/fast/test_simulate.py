"""simulate(): the kernel's rules on hand-made bars (the parity tests prove them against the engine at scale),
and the wrapper's input checks."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tradeforge import fast
from tradeforge.fast.errors import FastInputError, FastTypeError
from tradeforge.fast.records import EXIT_REASONS, ORDER_KINDS


def bars(*rows: tuple[float, float, float, float]) -> dict[str, np.ndarray]:
    o, h, lo, c = (np.array(col, dtype=float) for col in zip(*rows, strict=True))
    return {"open": o, "high": h, "low": lo, "close": c}


def signal(n: int, *at: int) -> np.ndarray:
    out = np.zeros(n, dtype=bool)
    out[list(at)] = True
    return out


FLAT = bars(*[(100.0, 101.0, 99.0, 100.0)] * 6)


def run(b: dict[str, np.ndarray], entries: np.ndarray, **kwargs: object) -> fast.SimulationResult:
    return fast.simulate(b["open"], b["high"], b["low"], b["close"], entries, **kwargs)  # type: ignore[arg-type]


def test_market_orders_fill_at_the_next_open_and_equity_is_marked_at_the_close() -> None:
    b = bars((100, 101, 99, 100), (102, 104, 101, 103), (103, 106, 102, 105), (104, 105, 100, 101))
    r = run(b, signal(4, 0), exits=signal(4, 2), init_cash=1000.0)
    (t,) = r.trades
    assert (t["entry_idx"], t["exit_idx"], t["entry_price"], t["exit_price"]) == (1, 3, 102.0, 104.0)
    assert t["size"] == 9.0  # floor(1000 / 102)
    np.testing.assert_allclose(r.equity[:, 0], [1000, 1000 - 918 + 9 * 103, 1000 - 918 + 9 * 105, 1018])
    assert EXIT_REASONS[t["exit_reason"]] == "signal"


def test_fill_on_close_trades_at_the_signal_bars_close() -> None:
    b = bars((100, 101, 99, 100), (102, 104, 101, 103), (103, 106, 102, 105), (104, 105, 100, 101))
    r = run(b, signal(4, 0), exits=signal(4, 2), init_cash=1000.0, fill="close")
    (t,) = r.trades
    assert (t["entry_idx"], t["exit_idx"], t["entry_price"], t["exit_price"]) == (0, 2, 100.0, 105.0)


def test_a_bar_that_gaps_through_the_stop_fills_at_its_open() -> None:
    b = bars((100, 101, 99, 100), (100, 101, 99, 100), (90, 92, 88, 91), (91, 92, 90, 91))
    r = run(b, signal(4, 0), sl_stop=0.05, init_cash=1000.0)
    (t,) = r.trades
    assert EXIT_REASONS[t["exit_reason"]] == "stop_loss"
    assert (t["exit_idx"], t["exit_price"]) == (2, 90.0)  # not the stop level 95


def test_when_stop_and_target_are_both_touched_in_one_bar_the_stop_wins() -> None:
    b = bars((100, 101, 99, 100), (100, 101, 99, 100), (100, 120, 80, 100), (100, 101, 99, 100))
    r = run(b, signal(4, 0), sl_stop=0.1, tp_stop=0.1, init_cash=1000.0)
    (t,) = r.trades
    assert EXIT_REASONS[t["exit_reason"]] == "stop_loss"
    assert t["exit_price"] == pytest.approx(90.0)
    # ... unless the bar opens beyond the target: then the target is known first
    b = bars((100, 101, 99, 100), (100, 101, 99, 100), (115, 120, 80, 100), (100, 101, 99, 100))
    (t,) = run(b, signal(4, 0), sl_stop=0.1, tp_stop=0.1, init_cash=1000.0).trades
    assert (EXIT_REASONS[t["exit_reason"]], t["exit_price"]) == ("take_profit", 115.0)


def test_exits_attached_to_an_entry_work_on_the_entry_bar() -> None:
    b = bars((100, 101, 99, 100), (100, 101, 94, 96), (96, 97, 95, 96))
    (t,) = run(b, signal(3, 0), sl_stop=0.05, init_cash=1000.0).trades
    assert (t["entry_idx"], t["exit_idx"], t["exit_price"]) == (1, 1, 95.0)


def test_the_trailing_stop_follows_highs_of_later_bars() -> None:
    b = bars(
        (100, 101, 99, 100),  # signal
        (100, 101, 99, 100),  # entry at 100; the trailing stop is placed at this close (extreme 100)
        (100, 110, 99.5, 109),  # level 90 not touched; the extreme becomes 110 after the bar
        (108, 108, 98, 99),  # level 99: touched inside the bar
    )
    (t,) = run(b, signal(4, 0), tsl_stop=0.1, init_cash=1000.0).trades
    assert EXIT_REASONS[t["exit_reason"]] == "trailing"
    assert (t["exit_idx"], t["exit_price"]) == (3, pytest.approx(99.0))


def test_slippage_moves_fills_against_the_trader_but_never_outside_the_bar() -> None:
    b = bars((100, 101, 99, 100), (100, 100.5, 99, 100), (100, 101, 99, 100))
    (t,) = run(b, signal(3, 0), init_cash=1000.0, slippage=0.01).trades
    assert t["entry_price"] == 100.5  # 101 would be above the bar's high


def test_a_reversal_closes_then_opens_on_the_same_bar_with_a_fee_on_each_leg() -> None:
    n = 6
    r = run(FLAT, signal(n, 0), short_entries=signal(n, 2), init_cash=10_000.0, fees=0.001, fixed_fees=1.0)
    first, second = r.trades
    assert first["exit_idx"] == second["entry_idx"] == 3
    assert (first["side"], second["side"]) == (1, -1)
    kinds = [ORDER_KINDS[k] for k in r.orders["kind"]]
    assert kinds == ["entry", "exit", "entry"]
    np.testing.assert_allclose(r.orders["fee"], 1.0 + r.orders["size"] * 100.0 * 0.001)
    assert EXIT_REASONS[second["exit_reason"]] == "end" and math.isnan(second["exit_price"])
    assert r.n_trades[0] == 1


def test_sizes_units_value_percent_and_lots() -> None:
    n = 6
    units = run(FLAT, signal(n, 0), size=7, size_type="units", init_cash=1000.0).trades[0]["size"]
    value = run(FLAT, signal(n, 0), size=555.0, size_type="value", init_cash=1000.0).trades[0]["size"]
    half = run(FLAT, signal(n, 0), size=0.5, init_cash=1000.0).trades[0]["size"]
    lots = run(FLAT, signal(n, 0), size=0.5, init_cash=1000.0, lot_size=0.1).trades[0]["size"]
    frac = run(FLAT, signal(n, 0), init_cash=1000.0, lot_size=0.0, fees=0.001).trades[0]["size"]
    assert (units, value, half, lots) == (7.0, 5.0, 5.0, pytest.approx(5.0))
    assert frac == pytest.approx(1000.0 / 100.1)
    refused = run(FLAT, signal(n, 0), size=11, size_type="units", init_cash=1000.0)
    assert len(refused.trades) == 0  # 11 units cost more than the cash: the entry is refused


def test_columns_are_parameter_combinations_and_summaries_match_equity() -> None:
    b = bars((100, 101, 99, 100), (100, 103, 99, 102), (102, 104, 96, 97), (97, 99, 95, 98), (98, 99, 97, 98))
    r = run(b, signal(5, 0), sl_stop=[np.nan, 0.02, 0.05], init_cash=[1000.0, 2000.0, 3000.0])
    assert r.n_columns == 3 and r.equity.shape == (5, 3)
    np.testing.assert_array_equal(r.final_equity, r.equity[-1])
    np.testing.assert_allclose(r.total_return, r.final_equity / [1000.0, 2000.0, 3000.0] - 1.0)
    reasons = [EXIT_REASONS[t["exit_reason"]] for t in r.trades]
    assert reasons == ["end", "stop_loss", "stop_loss"]
    assert list(r.n_trades) == [0, 1, 1]


# ------------------------------------------------------------------ input checks
def test_nan_prices_name_the_bar() -> None:
    b = {k: v.copy() for k, v in FLAT.items()}
    b["close"][3] = np.nan
    with pytest.raises(FastInputError, match="close is NaN or infinite at bar 3"):
        run(b, signal(6, 0))


def test_inconsistent_bars_are_refused() -> None:
    b = {k: v.copy() for k, v in FLAT.items()}
    b["high"][2] = 98.0
    with pytest.raises(FastInputError, match="high is below low at bar 2"):
        run(b, signal(6, 0))
    b = {k: v.copy() for k, v in FLAT.items()}
    b["open"][4] = 150.0
    with pytest.raises(FastInputError, match="open is outside"):
        run(b, signal(6, 0))


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"size_type": "shares"}, FastInputError, "unknown size_type 'shares'.*'percent', 'units', 'value'"),
        ({"size": 2.0}, FastInputError, "fraction in \\(0, 1\\]"),
        ({"size": -1.0, "size_type": "units"}, FastInputError, "size must be a finite number > 0"),
        ({"fill": "open"}, FastInputError, "unknown fill 'open'"),
        ({"fees": 0.5}, FastInputError, "fees must be a finite number in \\[-0.1, 0.1\\)"),
        ({"sl_stop": 1.5}, FastInputError, "sl_stop must be a finite number in \\(0, 1\\)"),
        ({"init_cash": [1.0, 2.0], "fees": [0.0, 0.0, 0.0]}, FastInputError, "column counts disagree"),
        ({"lot_size": [1.0, 1.0]}, FastInputError, "one number for every column"),
        ({"size": "all"}, FastTypeError, "size must be a number"),
    ],
)
def test_bad_parameters_say_what_to_fix(kwargs: dict[str, object], error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        run(FLAT, signal(6, 0), **kwargs)


def test_bad_shapes_and_types() -> None:
    with pytest.raises(FastInputError, match="entries has 5 bars but the prices have 6"):
        run(FLAT, signal(5, 0))
    with pytest.raises(FastTypeError, match="entries must be a boolean array"):
        run(FLAT, np.linspace(0, 1, 6))
    with pytest.raises(FastInputError, match="3 dimension"):
        run(FLAT, np.zeros((6, 2, 2), dtype=bool))
    with pytest.raises(FastInputError, match="one shape"):
        fast.simulate(FLAT["open"], FLAT["high"], FLAT["low"], FLAT["close"][:5], signal(6, 0))
    with pytest.raises(FastInputError, match="column counts disagree"):
        run(FLAT, np.zeros((6, 2), dtype=bool), short_entries=np.zeros((6, 3), dtype=bool))
    with pytest.raises(FastInputError, match="take-profit at or below zero"):
        run(FLAT, signal(6, 0), short_entries=signal(6, 2), tp_stop=1.5)
    assert isinstance(FastInputError("x"), ValueError) and isinstance(FastTypeError("x"), TypeError)
    # 0/1 integer signals are accepted as booleans
    assert len(run(FLAT, signal(6, 0).astype(int), init_cash=1000.0).trades) == 1


def test_per_column_prices_equal_separate_runs() -> None:
    from tradeforge.data import load_sample

    a, b = load_sample("GOOG").slice(0, 1500), load_sample("EURUSD").slice(0, 1500)
    stacked = {k: np.column_stack([getattr(a, k), getattr(b, k)]) for k in ("open", "high", "low", "close")}
    rng = np.random.default_rng(3)
    entries = rng.random((1500, 2)) < 0.05
    exits = rng.random((1500, 2)) < 0.05
    kwargs = {"sl_stop": 0.02, "fees": 0.001, "init_cash": [10_000.0, 100_000.0]}
    both = run(stacked, entries, exits=exits, **kwargs)
    for j, series in enumerate((a, b)):
        one = {k: getattr(series, k) for k in ("open", "high", "low", "close")}
        alone = run(one, entries[:, j], exits=exits[:, j], **{**kwargs, "init_cash": kwargs["init_cash"][j]})
        np.testing.assert_array_equal(both.equity[:, j], alone.equity[:, 0])
        mine = both.column_trades(j)
        assert len(mine) == len(alone.trades) > 5
        for field in ("entry_idx", "exit_idx", "size", "entry_price", "pnl"):
            np.testing.assert_array_equal(mine[field], alone.trades[field])


def test_the_trade_buffer_grows_with_every_field_kept() -> None:
    from tradeforge.fast.records import TRADE_DTYPE
    from tradeforge.fast.trades import grow_nb

    trades = np.zeros(3, dtype=TRADE_DTYPE)
    for k, name in enumerate(TRADE_DTYPE.names or ()):
        trades[name] = np.arange(3) + 10 * k
    bigger = grow_nb(trades)
    assert bigger.shape == (6,) and bigger.dtype == TRADE_DTYPE
    np.testing.assert_array_equal(bigger[:3], trades)
