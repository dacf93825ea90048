"""compat.plot: the offline HTML chart behind Backtest.plot(), checked through the figure JSON in the written file."""

from __future__ import annotations

import base64
import json
import re
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from tradeforge.compat import _plot_downsample as ds
from tradeforge.compat.plot import IndicatorSpec, plot_backtest

N = 500


def make_ohlc(n: int = N, freq: str = "D", seed: int = 7, start: str = "2020-01-01") -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.01, n)))
    open_ = np.r_[close[0], close[:-1]]
    high = np.maximum(open_, close) * (1 + rng.uniform(0.0, 0.01, n))
    low = np.minimum(open_, close) * (1 - rng.uniform(0.0, 0.01, n))
    volume = rng.integers(100, 1_000, n).astype(np.float64)
    index = pd.date_range(start, periods=n, freq=freq)
    return pd.DataFrame({"Open": open_, "High": high, "Low": low, "Close": close, "Volume": volume}, index=index)


def make_trades(ohlc: pd.DataFrame, entries: list[int], exits: list[int], sizes: list[float]) -> pd.DataFrame:
    close = ohlc["Close"].to_numpy()
    trades = pd.DataFrame({"Size": sizes, "EntryBar": entries, "ExitBar": exits})
    trades["EntryPrice"] = close[entries]
    trades["ExitPrice"] = close[exits]
    trades["SL"] = np.nan
    trades["TP"] = np.nan
    trades["PnL"] = (trades["ExitPrice"] - trades["EntryPrice"]) * trades["Size"]
    trades["Commission"] = 0.0
    trades["ReturnPct"] = np.sign(trades["Size"]) * (trades["ExitPrice"] / trades["EntryPrice"] - 1)
    trades["EntryTime"] = ohlc.index[entries]
    trades["ExitTime"] = ohlc.index[exits]
    trades["Duration"] = trades["ExitTime"] - trades["EntryTime"]
    trades["Tag"] = None
    return trades


def make_stats(ohlc: pd.DataFrame, trades: pd.DataFrame | None = None, cash: float = 10_000.0) -> pd.Series:
    close = ohlc["Close"].to_numpy()
    equity = cash * close / close[0]
    drawdown = 1 - equity / np.maximum.accumulate(equity)
    curve = pd.DataFrame({"Equity": equity, "DrawdownPct": drawdown, "DrawdownDuration": pd.NaT}, index=ohlc.index)
    if trades is None:
        trades = make_trades(ohlc, [10, 120, 300], [60, 200, 420], [10.0, -5.0, 8.0])
    return pd.Series(
        {
            "Return [%]": (equity[-1] / cash - 1) * 100,
            "Sharpe Ratio": 0.75,
            "Max. Drawdown [%]": -drawdown.max() * 100,
            "# Trades": len(trades),
            "_equity_curve": curve,
            "_trades": trades,
        },
        dtype=object,
    )


def decode(value: Any) -> np.ndarray:
    """A plotly JSON array: a plain list, or a base64 typed array {"dtype", "bdata"[, "shape"]}."""
    if isinstance(value, dict) and "bdata" in value:
        array = np.frombuffer(base64.b64decode(value["bdata"]), dtype=np.dtype(value["dtype"]))
        shape = value.get("shape")
        if shape is not None:
            dims = [int(d) for d in shape.split(",")] if isinstance(shape, str) else list(shape)
            array = array.reshape(dims)
        return array
    return np.asarray(value)


def load_figure(path: Path) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """(traces, layout) parsed from the Plotly.newPlot(...) call in the written HTML."""
    text = path.read_text(encoding="utf-8")
    call = text.index("Plotly.newPlot(")
    decoder = json.JSONDecoder()
    rest = text[text.index(",", call) + 1 :].lstrip()
    data, end = decoder.raw_decode(rest)
    layout, _ = decoder.raw_decode(rest[end:].lstrip()[1:].lstrip())
    return data, layout


def by_name(traces: list[dict[str, Any]], name: str) -> dict[str, Any]:
    matches = [t for t in traces if t.get("name") == name]
    assert len(matches) == 1, f"expected one trace named {name!r}, found {[t.get('name') for t in traces]}"
    return matches[0]


def names(traces: list[dict[str, Any]]) -> list[str]:
    return [t["name"] for t in traces if "name" in t]


@pytest.fixture
def ohlc() -> pd.DataFrame:
    return make_ohlc()


@pytest.fixture
def stats(ohlc: pd.DataFrame) -> pd.Series:
    return make_stats(ohlc)


def sma(values: np.ndarray, window: int) -> np.ndarray:
    return pd.Series(values).rolling(window).mean().to_numpy()


def test_writes_one_self_contained_file(tmp_path: Path, ohlc: pd.DataFrame, stats: pd.Series) -> None:
    path = plot_backtest(ohlc, stats, filename=tmp_path / "sub" / "chart.html", title="Demo <run>")
    assert path.is_absolute() and path == (tmp_path / "sub" / "chart.html").resolve()
    text = path.read_text(encoding="utf-8")
    assert text.lstrip().lower().startswith("<!doctype html>")
    assert re.search(r"\* plotly\.js v\d+\.\d+\.\d+", text), "the plotly.js bundle should be inlined"
    assert len(text) > 1_000_000  # plotly.js itself is several MB
    assert not re.search(r"<script[^>]*\bsrc=", text), "no external scripts: the file must work offline"
    assert "<title>Demo &lt;run&gt;</title>" in text


def test_filename_default_and_suffix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ohlc: pd.DataFrame, stats: pd.Series
) -> None:
    monkeypatch.chdir(tmp_path)
    path = plot_backtest(ohlc, stats, title="SMA: cross/1")
    assert path == (tmp_path / "SMA_ cross_1.html").resolve() and path.exists()
    assert plot_backtest(ohlc, stats, filename=tmp_path / "no_suffix").name == "no_suffix.html"


def test_panels_and_trace_names(tmp_path: Path, ohlc: pd.DataFrame, stats: pd.Series) -> None:
    close = ohlc["Close"].to_numpy()
    band = np.vstack([sma(close, 20) * 1.05, sma(close, 20) * 0.95])
    rsi = np.random.default_rng(1).uniform(20, 80, N)
    indicators = [
        IndicatorSpec("SMA(20)", sma(close, 20), overlay=True, color="orange"),
        IndicatorSpec(["BB upper", "BB lower"], band, overlay=True),
        IndicatorSpec("RSI(14)", rsi, overlay=False),
        IndicatorSpec("MACD", np.vstack([rsi - 50, rsi - 40]), overlay=False),
    ]
    traces, layout = load_figure(plot_backtest(ohlc, stats, indicators, filename=tmp_path / "c.html"))
    got = names(traces)
    for expected in ("Equity", "OHLC", "Volume", "Trade P/L", "Entry", "Exit", "SMA(20)", "BB upper", "BB lower"):
        assert expected in got
    assert {"RSI(14)", "MACD[0]", "MACD[1]", "OHLC (W)"} <= set(got)  # weekly superimposed under daily candles
    price_axis = by_name(traces, "OHLC")["yaxis"]
    axis_of = {name: by_name(traces, name)["yaxis"] for name in ("Equity", "Trade P/L", "Volume", "RSI(14)", "MACD[0]")}
    assert by_name(traces, "SMA(20)")["yaxis"] == price_axis and by_name(traces, "Entry")["yaxis"] == price_axis
    assert by_name(traces, "MACD[1]")["yaxis"] == axis_of["MACD[0]"]
    assert len({price_axis, *axis_of.values()}) == 6  # each in its own panel

    def top(axis: str) -> float:
        return float(layout["yaxis" + axis[1:]]["domain"][1])

    order = [axis_of["Equity"], axis_of["Trade P/L"], price_axis, axis_of["Volume"], axis_of["RSI(14)"]]
    assert [top(a) for a in order] == sorted((top(a) for a in order), reverse=True), "panels out of order"
    assert by_name(traces, "SMA(20)")["line"]["color"] == "orange"
    entry = by_name(traces, "Entry")
    np.testing.assert_allclose(decode(entry["y"]), ohlc["Close"].to_numpy()[[10, 120, 300]])
    assert list(decode(entry["marker"]["color"])) == [
        "#26a69a" if r >= 0 else "#ef5350" for r in stats["_trades"].ReturnPct
    ]
    pl = by_name(traces, "Trade P/L")
    np.testing.assert_allclose(decode(pl["y"]), stats["_trades"]["ReturnPct"].to_numpy() * 100)
    equity = decode(by_name(traces, "Equity")["y"])
    curve = stats["_equity_curve"]["Equity"].to_numpy()
    np.testing.assert_allclose(equity, curve / curve[0] * 100)  # relative_equity: % of start
    assert "Return" in layout["title"]["subtitle"]["text"] and "3 trades" in layout["title"]["subtitle"]["text"]


def test_indicator_with_plot_false_is_not_drawn(tmp_path: Path, ohlc: pd.DataFrame, stats: pd.Series) -> None:
    close = ohlc["Close"].to_numpy()
    indicators = [IndicatorSpec("Hidden", close, True, plot=False), IndicatorSpec("Shown", close, False)]
    traces, _ = load_figure(plot_backtest(ohlc, stats, indicators, filename=tmp_path / "c.html"))
    assert "Hidden" not in names(traces) and "Shown" in names(traces)


def test_reverse_indicators_and_hidden_legend(tmp_path: Path, ohlc: pd.DataFrame, stats: pd.Series) -> None:
    close = ohlc["Close"].to_numpy()
    specs = [IndicatorSpec("First", close, False), IndicatorSpec("Second", close, False)]
    path = plot_backtest(ohlc, stats, specs, filename=tmp_path / "c.html", reverse_indicators=True, show_legend=False)
    traces, layout = load_figure(path)
    tops = {name: layout["yaxis" + by_name(traces, name)["yaxis"][1:]]["domain"][1] for name in ("First", "Second")}
    assert tops["Second"] > tops["First"] and layout["showlegend"] is False


@pytest.mark.filterwarnings("ignore:Data contains too many candlesticks")
def test_scatter_indicator_keeps_sparse_points(tmp_path: Path, ohlc: pd.DataFrame, stats: pd.Series) -> None:
    signal = np.full(N, np.nan)
    signal[[5, 250]] = [1.0, 2.0]
    spec = IndicatorSpec("Signal", signal, overlay=False, scatter=True)
    traces, _ = load_figure(plot_backtest(ohlc, stats, [spec], filename=tmp_path / "c.html", max_points=50))
    trace = by_name(traces, "Signal")
    assert trace["mode"] == "markers"
    y = decode(trace["y"])
    assert len(y) == 50 and sorted(y[np.isfinite(y)]) == [1.0, 2.0]  # the sparse values survive 10x downsampling


def test_options_change_panels(tmp_path: Path, ohlc: pd.DataFrame, stats: pd.Series) -> None:
    traces, _ = load_figure(
        plot_backtest(
            ohlc,
            stats,
            filename=tmp_path / "c.html",
            plot_drawdown=True,
            plot_volume=False,
            plot_pl=False,
            plot_trades=False,
            superimpose=False,
            relative_equity=False,
            plot_return=True,
        )
    )
    got = names(traces)
    assert "Drawdown" in got and "Volume" not in got and "Trade P/L" not in got and "Entry" not in got
    assert "OHLC (W)" not in got
    curve = stats["_equity_curve"]
    np.testing.assert_allclose(decode(by_name(traces, "Return")["y"]), curve["Equity"] - curve["Equity"].iloc[0])
    np.testing.assert_allclose(decode(by_name(traces, "Drawdown")["y"]), -100 * curve["DrawdownPct"].to_numpy())
    assert any(name.startswith("Max Drawdown (-") for name in got)


def test_smooth_equity_interpolates_between_exits(tmp_path: Path, ohlc: pd.DataFrame, stats: pd.Series) -> None:
    traces, _ = load_figure(plot_backtest(ohlc, stats, filename=tmp_path / "c.html", smooth_equity=True))
    equity = decode(by_name(traces, "Equity")["y"])
    raw = stats["_equity_curve"]["Equity"].to_numpy()
    raw = raw / raw[0] * 100
    assert equity[60] == pytest.approx(raw[60]) and equity[200] == pytest.approx(raw[200])  # exits kept
    kinks = np.count_nonzero(np.abs(np.diff(equity, 2)) > 1e-9)
    assert kinks <= 2 * 10  # straight between ~10 kept points (exits, peak, max drawdown, ends), not a random walk
    assert np.count_nonzero(np.abs(np.diff(raw, 2)) > 1e-9) > 400


def test_zero_trades(tmp_path: Path, ohlc: pd.DataFrame) -> None:
    empty = make_trades(ohlc, [], [], [])
    for stats in (make_stats(ohlc, empty), make_stats(ohlc, empty).drop("_trades")):
        traces, layout = load_figure(plot_backtest(ohlc, stats, filename=tmp_path / "c.html"))
        got = names(traces)
        assert "Equity" in got and "OHLC" in got
        assert not {"Trade P/L", "Entry", "Exit", "Winning trades", "Losing trades"} & set(got)
        assert "0 trades" in layout["title"]["subtitle"]["text"]


def test_range_index(tmp_path: Path, ohlc: pd.DataFrame) -> None:
    plain = ohlc.reset_index(drop=True)
    stats = make_stats(plain)
    spec = IndicatorSpec("SMA", sma(plain["Close"].to_numpy(), 10), overlay=True)
    traces, layout = load_figure(plot_backtest(plain, stats, [spec], filename=tmp_path / "c.html"))
    candles = by_name(traces, "OHLC")
    np.testing.assert_array_equal(decode(candles["x"]), np.arange(N))
    assert all(layout[k].get("type") != "date" for k in layout if k.startswith("xaxis"))
    assert "OHLC (W)" not in names(traces)  # superimpose is ignored without times
    np.testing.assert_array_equal(decode(by_name(traces, "Exit")["x"]), [60, 200, 420])


def test_tz_aware_index_is_drawn_on_its_wall_clock(tmp_path: Path) -> None:
    ohlc = make_ohlc(200, freq="1h", start="2024-03-01 09:00")
    ohlc.index = pd.DatetimeIndex(ohlc.index).tz_localize("America/New_York")
    stats = make_stats(ohlc, make_trades(ohlc, [10], [20], [1.0]))
    traces, layout = load_figure(plot_backtest(ohlc, stats, filename=tmp_path / "c.html"))
    first = decode(by_name(traces, "OHLC")["x"])[0]
    assert first == pd.Timestamp("2024-03-01 09:00").value / 1e6  # ms of the local 09:00, not of UTC 14:00
    assert "America/New_York" in json.dumps(layout)
    assert "OHLC (D)" in names(traces)  # hourly data gets daily candles superimposed


def test_resample_to_pandas_offset(tmp_path: Path, ohlc: pd.DataFrame, stats: pd.Series) -> None:
    traces, layout = load_figure(plot_backtest(ohlc, stats, filename=tmp_path / "c.html", resample="W"))
    candles = by_name(traces, "OHLC")
    weekly = ohlc.resample("W").agg({"Open": "first", "High": "max", "Low": "min", "Close": "last"}).dropna()
    for column, key in (("Open", "open"), ("High", "high"), ("Low", "low"), ("Close", "close")):
        np.testing.assert_allclose(decode(candles[key]), weekly[column].to_numpy())
    assert "Downsampled" in layout["title"]["subtitle"]["text"]


def test_errors_name_the_problem(tmp_path: Path, ohlc: pd.DataFrame, stats: pd.Series) -> None:
    target = tmp_path / "c.html"
    with pytest.raises(ValueError, match=r"indicator 'SMA' has 499 values .* 500 rows"):
        plot_backtest(ohlc, stats, [IndicatorSpec("SMA", np.ones(N - 1), True)], filename=target)
    with pytest.raises(ValueError, match=r"pass values\.T"):
        plot_backtest(ohlc, stats, [IndicatorSpec(["a", "b"], np.ones((N, 2)), False)], filename=target)
    with pytest.raises(ValueError, match=r"2 lines but 1 names"):
        plot_backtest(ohlc, stats, [IndicatorSpec(["a"], np.ones((2, N)), False)], filename=target)
    with pytest.raises(ValueError, match=r"lacks column\(s\) Close"):
        plot_backtest(ohlc.drop(columns="Close"), stats, filename=target)
    with pytest.raises(ValueError, match=r"lacks column\(s\) High, Low.*Rename"):
        plot_backtest(ohlc.rename(columns={"High": "high", "Low": "low"}), stats, filename=target)
    with pytest.raises(ValueError, match="no '_equity_curve'"):
        plot_backtest(ohlc, stats.drop("_equity_curve"), filename=target)
    with pytest.raises(ValueError, match=r"_equity_curve'\] has 500 rows but ohlc has 499"):
        plot_backtest(ohlc.iloc[1:], stats, filename=target)
    with pytest.raises(TypeError, match="stats must be"):
        plot_backtest(ohlc, {"_equity_curve": stats["_equity_curve"]}, filename=target)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"indicators\[0\] must be an IndicatorSpec"):
        plot_backtest(ohlc, stats, [np.ones(N)], filename=target)  # type: ignore[list-item]
    with pytest.raises(TypeError, match="DataFrame"):
        plot_backtest(ohlc["Close"], stats, filename=target)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="not sorted"):
        plot_backtest(ohlc.iloc[::-1], make_stats(ohlc.iloc[::-1]), filename=target)
    with pytest.raises(ValueError, match="needs a DatetimeIndex"):
        plain = ohlc.reset_index(drop=True)
        plot_backtest(plain, make_stats(plain), filename=target, resample="W")
    with pytest.raises(ValueError, match="not a pandas offset"):
        plot_backtest(ohlc, stats, filename=target, resample="fortnightly-ish")
    with pytest.raises(ValueError, match="ExitBar outside"):
        plot_backtest(ohlc, make_stats(ohlc, make_trades(ohlc, [1], [2], [1.0]).assign(ExitBar=N)), filename=target)
    with pytest.raises(ValueError, match="is a folder"):
        plot_backtest(ohlc, stats, filename=tmp_path)
    assert not target.exists()


def test_multi_asset_panels(tmp_path: Path) -> None:
    frames = {"AAA": make_ohlc(seed=1), "BBB": make_ohlc(seed=2)}
    trades = make_trades(frames["AAA"], [10, 100], [50, 150], [1.0, 2.0]).assign(Symbol=["AAA", "BBB"])
    stats = make_stats(frames["AAA"], trades)
    weights = pd.DataFrame({"AAA": np.linspace(0, 0.6, N), "BBB": np.linspace(0.4, 0.2, N)}, index=frames["AAA"].index)
    path = plot_backtest(None, stats, filename=tmp_path / "m.html", allocation=weights, extra_price_panels=frames)
    traces, layout = load_figure(path)
    candles = [t for t in traces if t["type"] == "candlestick"]
    assert [t["name"] for t in candles] == ["AAA", "BBB"] and candles[0]["yaxis"] != candles[1]["yaxis"]
    stacked = [t for t in traces if t.get("stackgroup") == "allocation"]
    assert [t["name"] for t in stacked] == ["AAA", "BBB"]
    np.testing.assert_allclose(decode(stacked[1]["y"]), weights["BBB"].to_numpy())
    allocation_axis = stacked[0]["yaxis"]
    assert layout["yaxis" + allocation_axis[1:]]["title"]["text"] == "Allocation"
    exits = {t["yaxis"]: decode(t["x"]) for t in traces if t.get("name") == "Exit"}
    assert set(exits) == {candles[0]["yaxis"], candles[1]["yaxis"]}  # each trade on its own symbol's panel
    # ohlc given as one of the frames: no duplicate panel for it
    traces, _ = load_figure(
        plot_backtest(frames["AAA"], stats, filename=tmp_path / "m2.html", extra_price_panels=frames)
    )
    assert [t["name"] for t in traces if t["type"] == "candlestick"] == ["AAA", "BBB"]


def test_bucket_reductions_are_exact() -> None:
    values = np.array([3.0, 1.0, 4.0, 1.0, 5.0, 9.0, 2.0, 6.0, np.nan, 5.0])
    buckets = ds.by_count(10, 4)  # ceil(10 / 4) = 3 bars per bucket: [0:3] [3:6] [6:9] [9:10]
    np.testing.assert_array_equal(buckets.starts, [0, 3, 6, 9])
    np.testing.assert_array_equal(buckets.ends, [2, 5, 8, 9])
    bars = ds.ohlc(values, values, values, values, np.ones(10), buckets)
    np.testing.assert_array_equal(bars.open, [3.0, 1.0, 2.0, 5.0])
    np.testing.assert_array_equal(bars.high, [4.0, 9.0, 6.0, 5.0])
    np.testing.assert_array_equal(bars.low, [1.0, 1.0, 2.0, 5.0])
    np.testing.assert_array_equal(bars.close, [4.0, 9.0, np.nan, 5.0])
    np.testing.assert_array_equal(bars.volume, [3.0, 3.0, 3.0, 1.0])
    np.testing.assert_array_equal(ds.last_valid(values, buckets), [4.0, 9.0, 6.0, 5.0])
    assert ds.longest_drawdown(np.array([1.0, 2.0, 1.5, 1.0, 2.5, 2.0])) == (1, 4)
    assert ds.longest_drawdown(np.array([1.0, 2.0, 3.0])) is None


@pytest.mark.filterwarnings("ignore:Data contains too many candlesticks")
def test_many_trades_are_merged_per_bucket(tmp_path: Path) -> None:
    ohlc = make_ohlc(20_000, freq="h")
    entries = np.arange(0, 19_990, 2)
    trades = make_trades(ohlc, list(entries), list(entries + 1), list(np.where(entries % 4 == 0, 1.0, -3.0)))
    stats = make_stats(ohlc, trades)
    traces, layout = load_figure(plot_backtest(ohlc, stats, filename=tmp_path / "c.html", max_points=5_000))
    pl = by_name(traces, "Trade P/L")
    custom = decode(pl["customdata"])
    assert len(custom) <= 1_000 and custom[:, 3].sum() == len(trades)  # every trade counted once
    first = trades[trades["ExitBar"] < 20]  # bucket 0 holds bars 0..19
    weights = first["Size"].abs()
    expected = (weights * first["ReturnPct"]).sum() / weights.sum() * 100
    assert decode(pl["y"])[0] == pytest.approx(expected)
    assert custom[0, 2] == pytest.approx(first["PnL"].sum())
    assert "9,995 trades drawn as" in layout["title"]["subtitle"]["text"]


@pytest.mark.filterwarnings("ignore:Data contains too many candlesticks")
def test_one_million_bars_are_downsampled_for_drawing(tmp_path: Path) -> None:
    n, max_points = 1_000_000, 10_000
    ohlc = make_ohlc(n, freq="min", seed=3)
    exits = list(range(1_000, n, 100_000))
    stats = make_stats(ohlc, make_trades(ohlc, [e - 500 for e in exits], exits, [1.0] * len(exits)))
    spec = IndicatorSpec("SMA(50)", sma(ohlc["Close"].to_numpy(), 50), overlay=True)
    started = time.perf_counter()
    path = plot_backtest(ohlc, stats, [spec], filename=tmp_path / "big.html", max_points=max_points)
    elapsed = time.perf_counter() - started
    print(f"\nplot_backtest on {n:,} bars: {elapsed:.2f} s, file {path.stat().st_size / 1e6:.1f} MB")
    traces, layout = load_figure(path)
    candles = by_name(traces, "OHLC")
    opens, highs, lows, closes = (decode(candles[k]) for k in ("open", "high", "low", "close"))
    assert len(opens) <= max_points and len(decode(candles["x"])) == len(opens) == 10_000
    o, h, lo, c = (ohlc[k].to_numpy() for k in ("Open", "High", "Low", "Close"))
    for bucket in (0, 1234, 9_999):  # 100 bars per bucket
        rows = slice(bucket * 100, bucket * 100 + 100)
        assert opens[bucket] == o[rows][0] and closes[bucket] == c[rows][-1]
        assert highs[bucket] == h[rows].max() and lows[bucket] == lo[rows].min()
    volume = decode(by_name(traces, "Volume")["y"])
    assert volume[1234] == ohlc["Volume"].to_numpy()[123_400:123_500].sum()
    assert decode(candles["x"])[1] == ohlc.index[199].value / 1e6  # a bucket is drawn at its last bar

    equity = stats["_equity_curve"]["Equity"].to_numpy()
    shown = equity / equity[0] * 100
    line = by_name(traces, "Equity")
    band = decode(line["customdata"])
    assert len(decode(line["y"])) <= max_points
    np.testing.assert_allclose(band[:, 0], shown.reshape(-1, 100).min(axis=1))
    np.testing.assert_allclose(band[:, 1], shown.reshape(-1, 100).max(axis=1))
    assert decode(by_name(traces, "Drawdown area")["y"]).min() == pytest.approx(shown.min())  # deepest point kept
    assert decode(by_name(traces, "Running peak")["y"]).max() == pytest.approx(shown.max())
    peak = next(t for t in traces if t.get("name", "").startswith("Peak ("))
    assert peak["y"][0] == pytest.approx(shown.max())
    assert len(decode(by_name(traces, "SMA(50)")["y"])) <= max_points
    subtitle = layout["title"]["subtitle"]["text"]
    assert "Downsampled ×100.0" in subtitle and "1,000,000 bars" in subtitle


def test_plot_width_and_minitrades_plot_options(tmp_path: Path) -> None:
    """Backtesting.py's plot_width; minitrade's plot_indicator, plot_allocation and relative_allocation; records
    drawn like indicators."""
    import warnings

    from tradeforge.compat import Backtest, Strategy, load_samples_frame

    data = load_samples_frame(["AAPL", "IBM"])

    class Half(Strategy):
        def init(self) -> None:
            self.roc = self.I(self.data.Close.df.pct_change(5), name="ROC")

        def next(self) -> None:
            self.alloc.assume_zero()
            self.alloc.weights = {"AAPL": 0.5}
            self.rebalance()
            self.record(noted=float(len(self.data)))

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bt = Backtest(data, Half, cash=100_000)
        stats = bt.run()
        traces, layout = load_figure(bt.plot(filename=str(tmp_path / "a.html"), plot_width=900))
        assert layout["width"] == 900
        names = {t.get("name") for t in traces}
        assert {"ROC AAPL", "ROC IBM", "noted"} <= names
        stacked = [t for t in traces if t.get("stackgroup") == "allocation"]
        np.testing.assert_allclose(decode(stacked[0]["y"])[-1], stats["_allocation"]["AAPL"].iloc[-1])
        traces, layout = load_figure(
            bt.plot(filename=str(tmp_path / "b.html"), plot_indicator=False, relative_allocation=False)
        )
        assert not {"ROC AAPL", "ROC IBM", "noted"} & {t.get("name") for t in traces}
        stacked = [t for t in traces if t.get("stackgroup") == "allocation"]
        value = stats["_allocation"]["AAPL"].iloc[-1] * stats["_equity_curve"]["Equity"].iloc[-1]
        np.testing.assert_allclose(decode(stacked[0]["y"])[-1], value, rtol=1e-9)  # in cash
        assert layout["yaxis" + stacked[0]["yaxis"][1:]]["title"]["text"] == "Allocation [$]"
        traces, _ = load_figure(bt.plot(filename=str(tmp_path / "c.html"), plot_allocation=False))
        assert not [t for t in traces if t.get("stackgroup") == "allocation"]
        with pytest.raises(ValueError, match="plot_width"):
            bt.plot(filename=str(tmp_path / "d.html"), plot_width="wide")
