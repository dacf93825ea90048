"""Multi-asset strategies (minitrade style): 2-level data, self.alloc, self.rebalance(), per-asset results."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tradeforge.compat import Backtest, Strategy, load_samples_frame
from tradeforge.compat.errors import CompatValueError

pytestmark = pytest.mark.filterwarnings("ignore")

STOCKS = ["AAPL", "IBM", "KO", "MSFT"]
CRYPTO = ["ADA-BTC", "DASH-BTC", "ETC-BTC", "ETH-BTC", "LTC-BTC", "NXT-BTC", "TRX-BTC", "XLM-BTC", "XMR-BTC", "ZEC-BTC"]


class TopRoc(Strategy):
    """Hold the `top` assets with the highest positive rate of change, equal weight (minitrade's example)."""

    n = 10
    top = 2
    rtol = 0.0
    reserve = 0.1
    force = False  # True: correct drift every bar, not only when the weights change (minitrade's force)

    def init(self) -> None:
        self.roc = self.I(self.data.ta.roc(self.n), name="ROC")

    def next(self) -> None:
        roc = self.roc.df.iloc[-1]
        self.alloc.add(roc.nlargest(self.top).index, roc > 0).equal_weight()
        self.rebalance(rtol=self.rtol, cash_reserve=self.reserve, force=self.force)


@pytest.fixture(scope="module")
def stocks() -> pd.DataFrame:
    return load_samples_frame(STOCKS)


def realised_weights(stats: pd.Series, data: pd.DataFrame, k: int) -> pd.Series:
    """Each asset's value / equity at bar k's close, holding the units bought by the rebalance of bar k
    (with trade_on_close its fills are at bar k's close and booked with bar k + 1)."""
    held = stats["_units"].iloc[k + 1]
    closes = data.xs("Close", axis=1, level=1).iloc[k]
    values = held * closes
    equity = stats["_equity_curve"]["Equity"].iloc[k]  # at k's close; fills at that close leave it unchanged
    return values / equity


def test_rebalance_meets_target_weights_after_every_rebalance(stocks: pd.DataFrame) -> None:
    stats = Backtest(stocks, TopRoc, cash=1_000_000, trade_on_close=True, finalize_trades=False).run(force=True)
    rebalances = stats["_rebalances"]
    assert len(rebalances) > 600
    checked = 0
    index = list(stocks.index)
    for when, target in rebalances.iloc[:-1].iterrows():
        k = index.index(when)
        actual = realised_weights(stats, stocks, k)
        closes = stocks.xs("Close", axis=1, level=1).iloc[k]
        # whole shares: each asset may miss by one share, and by one more when the buys are trimmed to what the
        # account can pay for (another asset left within tolerance just above its target)
        unit = closes / stats["_equity_curve"]["Equity"].iloc[k]
        goal = target * (1 - TopRoc.reserve)
        assert (np.abs(actual - goal) <= 2 * unit + 1e-9).all(), (when, actual.to_dict(), goal.to_dict())
        checked += 1
    assert checked > 600
    assert stats["# Trades"] > 50


def test_rebalance_tolerance_leaves_small_drifts_alone(stocks: pd.DataFrame) -> None:
    """minitrade's tolerance: the portfolio is left alone while the sum of |target - held value| is within rtol
    of equity; and without force nothing is traded while the weights stay those of the last rebalance."""
    test = Backtest(stocks, TopRoc, cash=1_000_000, trade_on_close=True, finalize_trades=False)
    tight = test.run(force=True)
    loose = test.run(force=True, rtol=0.2)
    changed = test.run()
    assert loose["# Trades"] < tight["# Trades"] and changed["# Trades"] < tight["# Trades"]
    weights = changed["_rebalances"]
    assert len(weights) < len(loose["_rebalances"]) and not (weights.diff().iloc[1:] == 0).all(axis=1).any()
    index = list(stocks.index)
    for when, target in loose["_rebalances"].iloc[:-1].iterrows():
        k = index.index(when)
        actual = realised_weights(loose, stocks, k)
        goal = target * (1 - TopRoc.reserve)
        unit = stocks.xs("Close", axis=1, level=1).iloc[k] / loose["_equity_curve"]["Equity"].iloc[k]
        assert float(np.abs(actual - goal).sum()) <= 0.2 + float(2 * unit.sum()) + 1e-9, (when, actual.to_dict())


def test_per_asset_and_portfolio_results(stocks: pd.DataFrame) -> None:
    test = Backtest(stocks, TopRoc, cash=100_000, commission=0.001)
    stats = test.run()
    per = stats["_per_asset"]
    assert list(per.index) == STOCKS
    closed = stats["_trades"]
    assert set(closed["Symbol"]) <= set(STOCKS)
    assert int(per["# Trades"].sum()) == len(closed) == stats["# Trades"]
    np.testing.assert_allclose(per["PnL [$]"].sum(), closed["PnL"].sum(), rtol=1e-9)
    alloc = stats["_allocation"]
    assert alloc.shape == (len(stocks), 4)
    assert (alloc.sum(axis=1) <= 1.0 + 1e-6).all() and (alloc >= -1e-12).all().all()  # long only, no leverage
    # equity = cash + held value: the last bar's equity equals the portfolio's valuation
    held = stats["_units"].iloc[-1] * stocks.xs("Close", axis=1, level=1).iloc[-1]
    assert stats["Equity Final [$]"] == pytest.approx(stats["_equity_curve"]["Equity"].iloc[-1])
    assert held.sum() / stats["Equity Final [$]"] == pytest.approx(alloc.iloc[-1].sum(), rel=1e-9)
    # Buy & Hold is an equal-weight basket of the four stocks
    closes = stocks.xs("Close", axis=1, level=1).to_numpy()
    basket = (closes / closes[0]).mean(axis=1)
    roc = test.run()._strategy.roc
    assert roc.shape == (len(stocks), 4)  # bars x assets, as data.Close (minitrade's orientation)
    first = int(np.isnan(roc).argmin(axis=0).max())
    assert stats["Buy & Hold Return [%]"] == pytest.approx((basket[-1] / basket[first] - 1) * 100, rel=1e-9)


def test_crypto_rotation_over_ten_pairs_with_gaps_filled() -> None:
    data = load_samples_frame(CRYPTO)
    assert list(dict.fromkeys(data.columns.get_level_values(0))) == CRYPTO
    assert not data.isna().any().any()
    stats = Backtest(data, TopRoc, cash=1_000, commission=0.001).run(n=12, top=3, rtol=0.1)
    assert stats["# Trades"] > 20
    assert set(stats["_trades"]["Symbol"]) > {"ETH-BTC"} or len(set(stats["_trades"]["Symbol"])) >= 3


class LongShort(Strategy):
    """Long the strongest, short the weakest asset (negative weight), with limit orders."""

    n = 20
    offset = None

    def init(self) -> None:
        self.roc = self.I(self.data.ta.roc(self.n), name="ROC")

    def next(self) -> None:
        roc = self.roc.df.iloc[-1]
        self.alloc.weights = {roc.idxmax(): 0.4, roc.idxmin(): -0.4}
        self.rebalance(rtol=0.05, limit_offset=self.offset)


def test_short_weights_and_limit_orders(stocks: pd.DataFrame) -> None:
    stats = Backtest(stocks, LongShort, cash=1_000_000, trade_on_close=True).run()
    trades = stats["_trades"]
    assert (trades["Size"] < 0).any() and (trades["Size"] > 0).any()
    alloc = stats["_allocation"]
    assert alloc.min().min() < -0.3 and alloc.max().max() > 0.3
    limited = Backtest(stocks, LongShort, cash=1_000_000, fail_fast=False).run(offset=0.002)  # unfilled exits
    lt = limited["_trades"]
    assert len(lt) > 10
    # a limit buy fills at or below its limit: entries of longs are never above the prior close * (1 - 0.002)
    closes = stocks.xs("Close", axis=1, level=1)
    longs = lt[lt["Size"] > 0]
    for _, t in longs.head(50).iterrows():
        k = int(t["EntryBar"])
        assert t["EntryPrice"] <= closes[t["Symbol"]].iloc[:k].iloc[-1] * (1 - 0.002) + 1e-9 or k == 0


def test_single_symbol_orders_and_position_call(stocks: pd.DataFrame) -> None:
    class BuyAapl(Strategy):
        def next(self) -> None:
            if not self.position("AAPL"):
                self.buy(symbol="AAPL", size=10)
            assert self.position("MSFT").size == 0
            assert self.position() is self.position  # minitrade's call and Backtesting.py's property agree

    stats = Backtest(stocks, BuyAapl, cash=100_000, finalize_trades=False).run()
    assert stats["_units"]["AAPL"].iloc[-1] == 10
    assert stats["_units"][["IBM", "KO", "MSFT"]].abs().sum().sum() == 0


def test_multi_asset_misuse(stocks: pd.DataFrame) -> None:
    class NoSymbol(Strategy):
        def next(self) -> None:
            self.buy(size=1)

    with pytest.raises(Exception, match="name the asset"):
        Backtest(stocks, NoSymbol).run()

    class Unknown(Strategy):
        def next(self) -> None:
            self.alloc.add(["TSLA"])

    with pytest.raises(Exception, match="unknown assets"):
        Backtest(stocks, Unknown).run()
    broken = stocks.drop(columns=[("KO", "Low")])
    with pytest.raises(CompatValueError, match="KO"):
        Backtest(broken, TopRoc)


def test_lowercase_ohlc_columns_are_accepted() -> None:
    from tradeforge.data import load_sample_frame

    frame = load_sample_frame("GOOG")  # columns open, high, low, close, volume

    class Hold(Strategy):
        def next(self) -> None:
            if not self.position:
                self.buy(size=5)

    stats = Backtest(frame, Hold, cash=100_000).run()
    assert stats["_trades"].empty and stats["Equity Final [$]"] != 100_000
    upper = Backtest(frame.rename(columns=str.capitalize), Hold, cash=100_000).run()
    assert stats["Equity Final [$]"] == upper["Equity Final [$]"]


def _yfinance_layout(frames: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Columns as yfinance.download gives them: (field, ticker) pairs, fields sorted, 'Adj Close' among them."""
    both = {t: f.assign(**{"Adj Close": f["Close"]}) for t, f in frames.items()}
    out = pd.concat(both, axis=1).swaplevel(axis=1).sort_index(axis=1)
    return out.rename_axis(["Price", "Ticker"], axis=1)


def test_yfinance_download_layout_is_read_as_symbols() -> None:
    from backtesting.test import GOOG
    from test_compat_optimize_lib import TcSmaCross  # Backtesting.py's README strategy

    from tradeforge.compat._multidata import symbols_first

    # one ticker: its plain OHLCV frame, so a Backtesting.py strategy runs as on GOOG itself
    one = _yfinance_layout({"GOOG": GOOG})
    stats = Backtest(one, TcSmaCross, commission=0.002).run()
    assert (stats["# Trades"], round(stats["Equity Final [$]"], 2)) == (93, 56263.52)
    # several tickers: (symbol, field) columns, one symbol per ticker in the order yfinance lists them
    other = GOOG[["Open", "High", "Low", "Close"]] * 1.1
    two = symbols_first(_yfinance_layout({"GOOG": GOOG, "GOOX": other.assign(Volume=GOOG["Volume"])}))
    assert list(dict.fromkeys(two.columns.get_level_values(0))) == ["GOOG", "GOOX"]
    assert two["GOOX"]["Close"].equals(other["Close"])
    assert list(two["GOOG"].columns) == ["Adj Close", "Close", "High", "Low", "Open", "Volume"]
    # a frame already in (symbol, field) layout is left as it is
    assert symbols_first(two) is two


def test_minitrade_allocation_apis_and_rebalance_rules(stocks: pd.DataFrame) -> None:
    """minitrade 0.1.38+'s assume_zero / weights["A"] = w / named buckets, 0.1.37's add(limit=) / current /
    previous, and its rebalance rules: defaults rtol=0.01 and cash_reserve=0.1, nothing traded while the weights
    are those of the last rebalance (unless force), units rounded down, a zero weight closes the asset."""
    seen: dict[str, object] = {}

    class Cycles(Strategy):
        def next(self) -> None:
            n = len(self.data)
            if n == 30:
                self.alloc.assume_zero()
                self.alloc.weights["AAPL"] = 0.5  # item assignment sets the weight (the Series is live)
                seen["modified"] = self.alloc.modified
                seen["orders"] = [(o.size, o.tag) for o in self.rebalance()]
                seen["previous"] = self.alloc.previous_weights.to_dict()
            elif n == 31:
                self.alloc.assume_previous()
                seen["unchanged"] = self.rebalance()  # same weights: nothing to do
            elif n == 32:
                self.alloc.assume_zero()
                stocks_bucket = self.alloc.bucket["stocks"].append(["MSFT", "KO", "IBM"]).trim(2)
                stocks_bucket.weight_equally(0.4).apply("update")
                self.alloc.weights["AAPL"] = self.alloc.unallocated / 2  # 0.3
                seen["bucket"] = (stocks_bucket.tickers, self.alloc.weights.to_dict())
                self.rebalance()
            elif n == 33:
                self.alloc.add(["AAPL", "IBM", "KO", "MSFT"], limit=1).equal_weight(0.5)
                seen["old_api"] = (self.alloc.selected.to_dict(), self.alloc.current.to_dict())
                self.rebalance()  # AAPL only: MSFT and KO go to 0 and are closed

    stats = Backtest(stocks, Cycles, cash=100_000, finalize_trades=False).run()
    close = stocks.xs("Close", axis=1, level=1)
    assert seen["modified"] is True
    assert seen["orders"] == [(float(0.5 * 100_000 * 0.9 // close["AAPL"].iloc[29]), None)]  # untagged, as minitrade
    assert seen["previous"] == {"AAPL": 0.5, "IBM": 0.0, "KO": 0.0, "MSFT": 0.0}
    assert seen["unchanged"] == []
    assert seen["bucket"] == (["MSFT", "KO"], {"AAPL": 0.3, "IBM": 0.0, "KO": 0.2, "MSFT": 0.2})
    assert seen["old_api"] == (
        {"AAPL": True, "IBM": False, "KO": False, "MSFT": False},
        {"AAPL": 0.5, "IBM": 0.0, "KO": 0.0, "MSFT": 0.0},
    )
    held = stats["_units"].iloc[-1]
    assert held["AAPL"] > 0 and held["KO"] == 0 and held["MSFT"] == 0 and held["IBM"] == 0
    with pytest.raises(Exception, match="unknown assets"):

        class Typo(Strategy):
            def next(self) -> None:
                self.alloc.weights["TSLA"] = 0.5  # pandas would add the key: rebalance() names it
                self.rebalance()

        Backtest(stocks, Typo).run()


def test_multi_asset_runs_start_orient_and_finish_as_minitrade(stocks: pd.DataFrame) -> None:
    """minitrade's conventions for multi-asset data: next() starts as soon as every indicator has a value,
    indicators are bars x assets like data.Close (self.sma[-1] is the latest value of each asset), and the run
    ends with every open trade closed at its asset's last close (orders still working are dropped)."""
    first: list[int] = []

    class Trend(Strategy):
        def init(self) -> None:
            self.sma = self.I(lambda c: c.rolling(10).mean(), self.data.Close.df, name="SMA")

        def next(self) -> None:
            if not first:
                first.append(len(self.data) - 1)
                assert self.sma.shape == (len(self.data), 4) and self.sma[-1].shape == (4,)
            above = self.data.Close[-1] > self.sma[-1]  # one bool per asset
            self.alloc.assume_zero()
            self.alloc.bucket["up"].append([s for s, up in zip(self.alloc.tickers, above, strict=True) if up])
            self.alloc.bucket["up"].weight_equally(1.0).apply()
            self.rebalance()

    stats = Backtest(stocks, Trend, cash=100_000).run()
    assert first == [9]  # rolling(10) has its first value at bar 9
    trades = stats["_trades"]
    assert not stats["_units"].iloc[-1].any() and len(trades) == stats["# Trades"] > 10
    last = trades[trades["ExitBar"] == len(stocks) - 1]
    closes = stocks.xs("Close", axis=1, level=1).iloc[-1]
    assert sum(row.ExitPrice == closes[row.Symbol] for row in last.itertuples()) >= 2  # closed at the end
    # minitrade's result layout as well: Ticker, each asset's value and the cash in the equity curve
    assert (trades["Ticker"] == trades["Symbol"]).all() and stats["_trade_start_bar"] == 9
    curve = stats["_equity_curve"]
    assert list(curve.columns[:6]) == ["Equity", "AAPL", "IBM", "KO", "MSFT", "Cash"]
    np.testing.assert_allclose(curve[["AAPL", "IBM", "KO", "MSFT", "Cash"]].sum(axis=1), curve["Equity"], rtol=1e-9)


def test_trades_is_a_tuple_and_minitrades_call(stocks: pd.DataFrame) -> None:
    seen: list[tuple[int, int, int, str]] = []

    class Two(Strategy):
        def next(self) -> None:
            if len(self.data) == 5:
                self.buy(symbol="AAPL", size=10)
                self.buy(symbol="KO", size=20)
            if len(self.data) == 8:
                aapl = self.trades("AAPL")
                seen.append((len(self.trades), len(self.trades()), len(aapl), aapl[0].ticker))

    Backtest(stocks, Two, cash=100_000).run()
    assert seen == [(2, 2, 1, "AAPL")]


def test_multi_asset_commission_rate_is_minitrades(stocks: pd.DataFrame) -> None:
    """minitrade folds a commission rate into the entry price (exits unadjusted), which is Backtesting.py's
    spread; a (fixed, relative) tuple keeps Backtesting.py 0.6.6's commission on entry and exit."""
    rate = Backtest(stocks, TopRoc, cash=100_000, commission=0.001).run()
    spread = Backtest(stocks, TopRoc, cash=100_000, spread=0.001).run()
    assert rate["Equity Final [$]"] == spread["Equity Final [$]"] and rate["# Trades"] == spread["# Trades"]
    pd.testing.assert_frame_equal(rate["_trades"], spread["_trades"])
    for t in rate["_trades"].head(20).itertuples():  # entries at the open raised (longs) by the rate
        opened = stocks[t.Symbol]["Open"].iloc[int(t.EntryBar)]
        assert t.EntryPrice == pytest.approx(opened * (1 + np.sign(t.Size) * 0.001), rel=1e-12)
    tupled = Backtest(stocks, TopRoc, cash=100_000, commission=(0.0, 0.001)).run()
    assert tupled["_trades"]["Commission"].gt(0).all() and rate["_trades"]["Commission"].eq(0).all()


def test_minitrades_backtest_options(stocks: pd.DataFrame) -> None:
    """lot_size rounds rebalance orders to whole lots, trade_start_date ignores orders before it, fail_fast=True
    (minitrade's default) stops the run at an order the account cannot pay for when it fills, fail_fast=False
    lets the broker drop it, fail_fast="scale" scales rebalance buys down when they are placed."""
    sizes: list[float] = []

    class Once(Strategy):
        weight = 0.5

        def next(self) -> None:
            self.alloc.assume_zero()
            self.alloc.weights = {"AAPL": self.weight, "MSFT": self.weight}
            sizes.extend(o.size for o in self.rebalance())

    stats = Backtest(stocks, Once, cash=100_000, lot_size=100, trade_start_date="2013-01-01").run()
    assert sizes and all(s % 100 == 0 for s in sizes)
    first_entry = stats["_trades"]["EntryTime"].min()
    assert first_entry >= pd.Timestamp("2013-01-01", tz=first_entry.tz)
    for fail_fast in (True, None):  # None: minitrade's default, True
        with pytest.raises(RuntimeError, match=r"Not enough liquidity for <Order MSFT size=\d+\.0, contingent=0>"):
            Backtest(stocks, Once, cash=100_000, fail_fast=fail_fast).run(weight=0.7)  # 140% of equity
    dropped = Backtest(stocks, Once, cash=100_000, fail_fast=False).run(weight=0.7)
    scaled = Backtest(stocks, Once, cash=100_000, fail_fast="scale").run(weight=0.7)
    assert dropped["_trades"]["Ticker"].tolist() == ["AAPL"]  # the MSFT buy was dropped at its fill
    assert sorted(scaled["_trades"]["Ticker"]) == ["AAPL", "MSFT"]  # both bought, scaled to what equity allows
    held = scaled["_units"].iloc[-2] * stocks.xs("Close", axis=1, level=1).iloc[-2]
    assert held.sum() <= scaled["_equity_curve"]["Equity"].iloc[-2] * 1.0001
    with pytest.raises(ValueError, match="fail_fast must be"):
        Backtest(stocks, Once, fail_fast="yes")
    late = Backtest(stocks, Once, cash=100_000, trade_start_date="2030-01-01").run()  # after the last bar
    assert late["# Trades"] == 0 and late["Equity Final [$]"] == 100_000
    from tradeforge.data import load_sample_frame

    with pytest.raises(CompatValueError, match="multi-asset"):
        Backtest(load_sample_frame("GOOG").rename(columns=str.capitalize), Once, lot_size=10)


@pytest.mark.parametrize(("commission", "equity"), [(0.0, 106_096.553501), (0.001, 94_848.581175)])
def test_rotation_gives_minitrades_numbers(stocks: pd.DataFrame, commission: float, equity: float) -> None:
    """Recorded from minitrade 0.1.37 and 0.1.40 (the same strategy with its bucket API) on these four stocks:
    final equity and 397 trades, with and without commission."""

    class Rotation(Strategy):
        def init(self) -> None:
            self.roc = self.I(self.data.Close.df.pct_change(10) * 100, name="ROC")

        def next(self) -> None:
            roc = self.roc.df.iloc[-1]
            self.alloc.add(roc.nlargest(2).index, roc > 0).equal_weight()
            self.rebalance(cash_reserve=0.2)

    stats = Backtest(stocks, Rotation, cash=100_000, commission=commission).run()
    assert stats["Equity Final [$]"] == pytest.approx(equity, abs=1e-6)
    assert stats["# Trades"] == 397
