"""Gaps Backtesting.py's own test suite found in tradeforge.compat: FractionalBacktest, the OptimizeResult of
method="sambo", the warning when plot() downsamples, and where plot() takes plotly.js from."""

from __future__ import annotations

import dataclasses
import json
import warnings
from pathlib import Path
from typing import Any

import backtesting as bt
import backtesting.lib as bl
import numpy as np
import pandas as pd
import pytest
from backtesting.test import BTCUSD, GOOG, SMA

import tradeforge.compat as tc
import tradeforge.compat.lib as tl
import tradeforge.compat.plot as tplot
from tradeforge.compat.optimize import OptimizeResult


def sma_cross(base: type, lib: Any) -> type:
    class SmaCross(base):  # type: ignore[misc]
        fast = 2
        slow = 3
        stop = 0.0

        def init(self) -> None:
            self.sma1 = self.I(SMA, self.data.Close, self.fast)
            self.sma2 = self.I(SMA, self.data.Close, self.slow)
            self.spread = self.I(lambda: self.sma1 - self.sma2, overlay=False)  # not rescaled: not an overlay

        def next(self) -> None:
            close = self.data.Close[-1]
            if lib.crossover(self.sma1, self.sma2):
                self.position.close()
                self.buy(sl=close * (1 - self.stop) if self.stop else None)
            elif lib.crossover(self.sma2, self.sma1):
                self.position.close()
                self.sell(size=0.5, tp=close * (1 - self.stop) if self.stop else None)

    return SmaCross


BtSmaCross = sma_cross(bt.Strategy, bl)
TcSmaCross = sma_cross(tc.Strategy, tl)


def quiet(factory: Any, *args: Any, **kwargs: Any) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return factory(*args, **kwargs)


def assert_same_frame(a: pd.DataFrame, b: pd.DataFrame) -> None:
    assert list(a.columns) == list(b.columns)
    assert a.dtypes.to_dict() == b.dtypes.to_dict()
    for column in a.columns:
        x, y = a[column], b[column]
        numeric = x.map(lambda v: v is None or isinstance(v, float)).all()  # float, or SL/TP of None -> NaN
        if pd.api.types.is_float_dtype(x) or (x.dtype == object and numeric):
            np.testing.assert_allclose(y.astype(float), x.astype(float), rtol=1e-9, err_msg=str(column))
        else:
            pd.testing.assert_series_equal(y, x, obj=str(column))


def assert_same_stats(a: pd.Series, b: pd.Series) -> None:
    assert list(a.index) == list(b.index)
    for key in a.index:
        if str(key).startswith("_"):
            continue
        if isinstance(a[key], float):
            assert np.isclose(b[key], a[key], rtol=1e-9, equal_nan=True), key
        else:
            assert b[key] == a[key], key


# ------------------------------------------------------------------------------------------- FractionalBacktest


@pytest.mark.parametrize(
    "options",
    [
        {"fractional_unit": 1 / 1e6, "cash": 100},
        {"cash": 100, "commission": 0.001},  # default unit: one satoshi
        {"fractional_unit": 1e-4, "cash": 1_000, "spread": 0.001, "trade_on_close": True, "stop": 0.05},
    ],
    ids=["micro-btc", "satoshi", "sl-tp"],
)
def test_fractional_backtest_equals_backtesting_py(options: dict[str, Any]) -> None:
    options = dict(options)
    params = {"fast": 2, "slow": 3, "stop": options.pop("stop", 0.0)}
    data = BTCUSD["2015":]
    a = quiet(bl.FractionalBacktest, data, BtSmaCross, finalize_trades=True, **options)
    b = quiet(tl.FractionalBacktest, data, TcSmaCross, finalize_trades=True, **options)
    stats_a, stats_b = quiet(a.run, **params), quiet(b.run, **params)
    assert stats_b["# Trades"] == stats_a["# Trades"] > 10
    assert_same_frame(stats_a["_trades"], stats_b["_trades"])
    assert_same_stats(stats_a, stats_b)
    np.testing.assert_allclose(
        stats_b["_equity_curve"]["Equity"].to_numpy(), stats_a["_equity_curve"]["Equity"].to_numpy(), rtol=1e-9
    )
    indicators_a, indicators_b = stats_a["_strategy"]._indicators, stats_b["_strategy"]._indicators
    assert [i._opts["overlay"] for i in indicators_b] == [i._opts["overlay"] for i in indicators_a] == [1, 1, 0]
    for x, y in zip(indicators_a, indicators_b, strict=True):
        np.testing.assert_allclose(np.asarray(y), np.asarray(x), rtol=1e-9)
        assert y.name == x.name
    # sizes in units, prices in the data's prices; the strategy kept trading whole fractional units
    trades = stats_b["_trades"]
    unit = options.get("fractional_unit", 1 / 100e6)
    np.testing.assert_allclose((trades["Size"] / unit).round(), trades["Size"] / unit, rtol=1e-9)
    assert trades["EntryPrice"].between(data["Low"].min() * 0.99, data["High"].max() * 1.01).all()
    assert b._data is not None and b._data["Close"].equals(data["Close"])  # the original data again after run()


def test_fractional_backtest_as_in_backtesting_py_suite() -> None:
    stats = quiet(
        tl.FractionalBacktest(BTCUSD["2015":], TcSmaCross, fractional_unit=1 / 1e6, cash=100, finalize_trades=True).run,
        fast=2,
        slow=3,
    )
    trade = stats["_trades"].iloc[0]
    assert stats["# Trades"] == 42
    assert trade["EntryPrice"] == pytest.approx(236.69)
    assert stats["_strategy"]._indicators[0][trade["EntryBar"]] == pytest.approx(234.14)


def test_fractional_backtest_satoshi_is_deprecated() -> None:
    data = BTCUSD["2015":]
    with pytest.warns(DeprecationWarning, match="satoshi"):
        old = tl.FractionalBacktest(data, TcSmaCross, satoshi=1e6, cash=100, finalize_trades=True)
    new = tl.FractionalBacktest(data, TcSmaCross, fractional_unit=1 / 1e6, cash=100, finalize_trades=True)
    assert old._fractional_unit == new._fractional_unit
    pd.testing.assert_frame_equal(quiet(old.run)["_trades"], quiet(new.run)["_trades"])


def test_fractional_backtest_rejects_a_bad_unit_and_needs_no_cash_warning() -> None:
    bad: Any
    for bad in (0, -1e-6, float("nan"), "1e-6", True):
        with pytest.raises(ValueError, match="fractional_unit must be a positive number"):
            tl.FractionalBacktest(BTCUSD, TcSmaCross, fractional_unit=bad)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # BTC costs more than the cash: the point of trading fractions, no warning
        tl.FractionalBacktest(BTCUSD, TcSmaCross, cash=100)


def test_fractional_backtest_optimize_and_plot_use_unit_prices(tmp_path: Path) -> None:
    test = tl.FractionalBacktest(BTCUSD["2015":], TcSmaCross, fractional_unit=1 / 1e6, cash=100, finalize_trades=True)
    stats, heatmap = quiet(test.optimize, fast=[2, 3], slow=[4, 5], return_heatmap=True, workers=1)
    assert len(heatmap) == 4 and stats["SQN"] == pytest.approx(heatmap.max())
    assert stats["_trades"]["EntryPrice"].min() > 100  # dollars per BTC, not per μBTC
    traces, _ = load_figure(test.plot(filename=str(tmp_path / "frac.html"), open_browser=False))
    entry = next(t for t in traces if t.get("name") == "Entry")
    np.testing.assert_allclose(decode(entry["y"]), stats["_trades"]["EntryPrice"].to_numpy())
    fast_sma = stats["_strategy"]._indicators[0]
    sma = next(t for t in traces if t.get("name") == fast_sma.name)
    np.testing.assert_allclose(decode(sma["y"]), np.asarray(fast_sma), rtol=1e-12)  # drawn at the data's prices
    assert np.nanmax(decode(sma["y"])) > 100


# ------------------------------------------------------------------------------------------- OptimizeResult


def test_sambo_optimize_result_matches_the_heatmap() -> None:
    test = tc.Backtest(GOOG.iloc[:100], TcSmaCross, finalize_trades=True)
    stats, heatmap, result = test.optimize(
        fast=range(2, 20),
        slow=np.arange(2, 20, dtype=object),
        constraint=lambda p: p.fast < p.slow,
        max_tries=30,
        method="sambo",
        return_optimization=True,
        return_heatmap=True,
        random_state=2,
    )
    assert isinstance(result, OptimizeResult)
    assert -result.fun == heatmap.max()
    assert result.x == list(heatmap.idxmax()) == [stats["_strategy"].fast, stats["_strategy"].slow]
    assert result.nfev == len(result.xv) == len(result.funv) == len(heatmap) == 30
    assert result.nit >= result.nfev and result.success
    evaluated = pd.Series(-result.funv, index=pd.MultiIndex.from_tuples([tuple(x) for x in result.xv]))
    pd.testing.assert_series_equal(evaluated.sort_index(), heatmap, check_names=False)
    assert all(fast < slow for fast, slow in result.xv)  # only admissible combinations were run
    # the Optuna study is there too, and its attributes are reachable from the result
    assert result.study.best_value == heatmap.max() == result.best_value
    assert len(result.trials_dataframe()) == result.nit
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.fun = 0.0  # type: ignore[misc]
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        _ = result.nope


def test_bayes_optimize_result_without_heatmap_and_with_untraded_combinations() -> None:
    test = tc.Backtest(GOOG.iloc[:100], TcSmaCross, finalize_trades=True)
    stats, result = test.optimize(
        fast=[3, 5], slow=[3, 10], method="bayes", return_optimization=True, random_state=0, maximize="Return [%]"
    )
    assert isinstance(stats, pd.Series) and result.nfev == 4
    untraded = [i for i, (fast, slow) in enumerate(result.xv) if fast == slow]  # equal SMAs never cross
    assert len(untraded) == 1 and np.isnan(result.funv[untraded]).all()
    assert result.fun == -stats["Return [%]"] == np.nanmin(result.funv)


def test_optimize_result_survives_copy_and_pickle() -> None:
    import copy
    import pickle

    result = OptimizeResult([1], -2.0, [[1]], np.array([-2.0]), 1, 1, True, "ok", study=None)
    for clone in (copy.copy(result), copy.deepcopy(result), pickle.loads(pickle.dumps(result))):
        assert (clone.x, clone.fun, clone.xv, clone.funv.tolist(), clone.message) == ([1], -2.0, [[1]], [-2.0], "ok")


# ------------------------------------------------------------------------------------------- plot


def load_figure(path: Path) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    text = Path(path).read_text(encoding="utf-8")
    rest = text[text.index(",", text.index("Plotly.newPlot(")) + 1 :].lstrip()
    decoder = json.JSONDecoder()
    data, end = decoder.raw_decode(rest)
    layout, _ = decoder.raw_decode(rest[end:].lstrip()[1:].lstrip())
    return data, layout


def decode(value: Any) -> np.ndarray:
    if isinstance(value, dict) and "bdata" in value:
        import base64

        return np.frombuffer(base64.b64decode(value["bdata"]), dtype=np.dtype(value["dtype"]))
    return np.asarray(value, dtype=float)


@pytest.fixture(scope="module")
def goog_run() -> tc.Backtest:
    test = tc.Backtest(GOOG, TcSmaCross, finalize_trades=True)
    test.run(fast=10, slow=30)
    return test


def test_plot_warns_when_it_downsamples(goog_run: tc.Backtest, tmp_path: Path, monkeypatch: Any) -> None:
    with pytest.warns(UserWarning, match=r"too many candlesticks to plot \(2,148 bars > max_points=1,000\)"):
        goog_run.plot(filename=str(tmp_path / "a.html"), max_points=1_000)
    monkeypatch.setattr(tplot, "_MAX_CANDLES", 10)  # as Backtesting.py's suite patches its _MAX_CANDLES
    with pytest.warns(UserWarning, match="See `Backtest.plot\\(resample=...\\)`"):
        path = goog_run.plot(filename=str(tmp_path / "b.html"), resample=True)
    traces, layout = load_figure(path)
    candles = next(t for t in traces if t.get("type") == "candlestick")
    assert len(decode(candles["open"])) == 10 and "Downsampled" in layout["title"]["subtitle"]["text"]


def test_plot_does_not_warn_when_every_bar_is_drawn_or_a_rule_is_asked(
    goog_run: tc.Backtest, tmp_path: Path, monkeypatch: Any
) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        goog_run.plot(filename=str(tmp_path / "a.html"))  # 2,148 bars <= 10,000
        monkeypatch.setattr(tplot, "_MAX_CANDLES", 10)
        goog_run.plot(filename=str(tmp_path / "b.html"), resample=False)
        goog_run.plot(filename=str(tmp_path / "c.html"), resample="ME")  # asked for: no warning, as Backtesting.py


def test_plotly_js_inline_cdn_or_shared_file(goog_run: tc.Backtest, tmp_path: Path) -> None:
    inline = Path(goog_run.plot(filename=str(tmp_path / "inline.html")))
    cdn = Path(goog_run.plot(filename=str(tmp_path / "cdn.html"), plotly_js="cdn"))
    assert inline.stat().st_size > 4_000_000  # offline by default: plotly.js is inside
    assert cdn.stat().st_size < 1_000_000 and "cdn.plot.ly" in cdn.read_text(encoding="utf-8")
    shared = tmp_path / "js" / "plotly.min.js"
    chart = Path(goog_run.plot(filename=str(tmp_path / "charts" / "a.html"), plotly_js=shared))
    assert shared.stat().st_size > 4_000_000 and chart.stat().st_size < 1_000_000
    assert '<script charset="utf-8" src="../js/plotly.min.js"></script>' in chart.read_text(encoding="utf-8")
    url = "https://example.org/plotly-2.35.2.min.js"
    assert f'src="{url}"' in Path(goog_run.plot(filename=str(tmp_path / "u.html"), plotly_js=url)).read_text()
    assert load_figure(chart)[0] == load_figure(inline)[0]  # the same figure, whichever way plotly.js comes
    with pytest.raises(ValueError, match="plotly_js='online'"):
        goog_run.plot(filename=str(tmp_path / "x.html"), plotly_js="online")
    with pytest.raises(TypeError, match="plotly_js must be"):
        goog_run.plot(filename=str(tmp_path / "x.html"), plotly_js=True)
    assert not (tmp_path / "x.html").exists()


def test_sambo_reads_numbers_as_ranges_as_backtesting_py_does() -> None:
    """Backtesting.py's sambo search takes n1=[2, 30] as every integer from 2 to 30 (its tutorials pass the end
    points only); "bayes" keeps to the values given; "skopt" is sambo with a DeprecationWarning."""
    test = tc.Backtest(GOOG.iloc[:300], TcSmaCross, finalize_trades=True)
    _, heatmap = test.optimize(
        fast=[2, 30], slow=[5, 60], constraint=lambda p: p.fast < p.slow, method="sambo", max_tries=25,
        random_state=3, return_heatmap=True,
    )  # fmt: skip
    fast = heatmap.index.get_level_values("fast")
    slow = heatmap.index.get_level_values("slow")
    assert len(heatmap) == 25 and len(set(fast)) > 2 and len(set(slow)) > 2
    assert fast.min() >= 2 and fast.max() <= 30 and slow.min() >= 5 and slow.max() <= 60
    assert all(isinstance(v, int) for v in fast) and all(f < s for f, s in zip(fast, slow, strict=True))
    _, only_given = test.optimize(fast=[2, 30], slow=[5, 60], method="bayes", random_state=3, return_heatmap=True)
    assert sorted(only_given.index) == [(2, 5), (2, 60), (30, 5), (30, 60)]
    with pytest.warns(DeprecationWarning, match='method="skopt"'):
        test.optimize(fast=[2, 30], slow=[5, 60], method="skopt", max_tries=3, random_state=3)


def test_sambo_fraction_of_tries_counts_the_values_given() -> None:
    """As Backtesting.py: max_tries=0.5 with n1=[5, 30], n2=[20, 60] is half of the 4 given combinations."""
    test = tc.Backtest(GOOG.iloc[:300], TcSmaCross, finalize_trades=True)
    _, heatmap = test.optimize(
        fast=[5, 30], slow=[20, 60], method="sambo", max_tries=0.5, random_state=1, return_heatmap=True
    )
    assert len(heatmap) == 2
