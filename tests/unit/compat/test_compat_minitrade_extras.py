"""minitrade's record(), start_on_day(), storage, holding=, Order.ticker and its _orders / _positions results.

The numbers were recorded from minitrade 0.1.40 running the same strategy (its bucket API) on the same data.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tradeforge.compat import Backtest, Strategy, load_samples_frame
from tradeforge.compat.errors import CompatValueError

pytestmark = pytest.mark.filterwarnings("ignore")


@pytest.fixture(scope="module")
def stocks() -> pd.DataFrame:
    return load_samples_frame(["AAPL", "IBM", "KO", "MSFT"])


class Noted(Strategy):
    def init(self) -> None:
        self.roc = self.I(self.data.Close.df.pct_change(10) * 100, name="ROC")
        self.start_on_day(50)
        if self.storage is not None:
            self.storage["runs"] = self.storage.get("runs", 0) + 1
        self.tickers: set[str] = set()

    def next(self) -> None:
        roc = self.roc.df.iloc[-1]
        self.alloc.assume_zero()
        self.alloc.bucket["e"].append(roc.sort_values(ascending=False), roc > 0).trim(2).weight_equally().apply()
        self.record(top=float(roc.max()))
        self.record(w=dict(roc.rank()), name="ranks")
        self.rebalance(cash_reserve=0.2)
        self.tickers.update(o.ticker for o in self.orders)


def test_record_start_on_day_storage_orders_and_positions_as_minitrade(stocks: pd.DataFrame) -> None:
    store: dict[str, int] = {}
    stats = Backtest(stocks, Noted, cash=100_000, commission=0.001, storage=store).run()
    assert stats["Equity Final [$]"] == pytest.approx(81_603.479068, abs=1e-6)
    assert stats["# Trades"] == 367
    assert stats["_trade_start_bar"] == 50  # start_on_day(50): the ROC has values from bar 10
    assert stats["_trades"]["EntryBar"].min() == 51
    assert store == {"runs": 1}  # the strategy's writes land in the dict given to Backtest
    assert stats["_positions"] == {"AAPL": 0, "IBM": 204, "KO": 766, "MSFT": 0, "Cash": 16533}
    orders = stats["_orders"]
    assert len(orders) == 608 and list(orders.columns) == ["Ticker", "Side", "Size"]
    assert orders.iloc[:3].to_numpy().tolist() == [["IBM", "Buy", 194], ["AAPL", "Buy", 478], ["IBM", "Sell", -194]]
    assert str(orders.index[0].date()) == "2012-03-15"
    assert stats["_strategy"].tickers == {"AAPL", "IBM", "KO", "MSFT"}
    records = stats["_strategy"]._records
    top, ranks = records["top"], records["w"]
    assert isinstance(top, pd.Series) and top.index.equals(stocks.index)
    assert top.notna().sum() == 704 and top.iloc[:50].isna().all()  # one value per next() call
    assert np.nansum(top.to_numpy()) == pytest.approx(2770.49524959973, rel=1e-12)
    assert isinstance(ranks, pd.DataFrame) and list(ranks.columns) == ["AAPL", "IBM", "KO", "MSFT"]
    assert np.nansum(ranks.to_numpy(dtype=float)) == 7040.0  # ranks 1..4 on 704 bars
    assert ranks.attrs["name"] == "ranks" and top.attrs == {
        "name": "top",
        "plot": True,
        "overlay": None,
        "color": None,
        "scatter": False,
    }


def test_holding_starts_with_preexisting_trades_as_minitrade(stocks: pd.DataFrame) -> None:
    stats = Backtest(
        stocks,
        Noted,
        cash=100_000,
        commission=0.001,
        holding={"AAPL": 100, "KO": 50},
        trade_start_date="2012-06-01",
    ).run()
    assert stats["Equity Final [$]"] == pytest.approx(92_395.366137, abs=1e-6)
    assert stats["# Trades"] == 351
    assert stats["_positions"] == {"AAPL": 0, "IBM": 231, "KO": 868, "MSFT": 0, "Cash": 18686}
    trades = stats["_trades"]
    first = trades.iloc[:2][["Ticker", "Size", "EntryBar", "ExitBar", "EntryPrice", "Tag"]].to_numpy().tolist()
    assert first == [["KO", 50, 0, 105, 36.544998, "preexisting"], ["AAPL", 100, 0, 108, 80.141426, "preexisting"]]
    # the holdings are priced at trade_start_date's close and their value is added to the cash
    bar = int((stocks.index < pd.Timestamp("2012-06-01", tz=stocks.index.tz)).sum())
    value = 100 * stocks["AAPL", "Close"].iloc[bar] + 50 * stocks["KO", "Close"].iloc[bar]
    equity = stats["_equity_curve"]["Equity"]
    assert equity.iloc[0] == pytest.approx(100_000 + value + 100 * (stocks["AAPL", "Close"].iloc[50] - 80.141426)
                                           + 50 * (stocks["KO", "Close"].iloc[50] - 36.544998), rel=1e-12)  # fmt: skip


def test_record_plots_and_misuse(stocks: pd.DataFrame, tmp_path: object) -> None:
    class Recorder(Strategy):
        def next(self) -> None:
            self.record(cash_share=1.0)
            self.record(label="x")  # not a number: kept, not drawn

    bt = Backtest(stocks, Recorder, cash=100_000)
    stats = bt.run()
    records = stats["_strategy"]._records
    assert records["cash_share"].iloc[-1] == 1.0 and records["label"].iloc[-1] == "x"
    from pathlib import Path

    path = bt.plot(filename=str(Path(str(tmp_path)) / "rec.html"), open_browser=False)
    assert "cash_share" in Path(path).read_text(encoding="utf-8")

    class Mixed(Strategy):
        def next(self) -> None:
            self.record(v=1.0 if len(self.data) % 2 else {"a": 1.0})

    with pytest.raises(TypeError, match="record"):
        Backtest(stocks, Mixed).run()

    class Late(Strategy):
        def init(self) -> None:
            self.start_on_day(len(self.data))

        def next(self) -> None:
            pass

    with pytest.raises(AssertionError, match="day must be within"):
        Backtest(stocks, Late).run()
    with pytest.raises(CompatValueError, match="unknown asset"):
        Backtest(stocks, Noted, holding={"TSLA": 1})
    with pytest.raises(CompatValueError, match="multi-asset"):
        from tradeforge.data import load_sample_frame

        Backtest(load_sample_frame("GOOG").rename(columns=str.capitalize), Noted, holding={"GOOG": 1})
    with pytest.raises(TypeError, match="storage"):
        Backtest(stocks, Noted, storage=[1])


def test_start_on_day_single_asset_follows_backtesting_py_start() -> None:
    from tradeforge.data import load_sample_frame

    goog = load_sample_frame("GOOG").rename(columns=str.capitalize)
    seen: list[int] = []

    class Late(Strategy):
        def init(self) -> None:
            self.start_on_day(100)

        def next(self) -> None:
            seen.append(len(self.data))

    Backtest(goog, Late).run()
    assert seen[0] == 101  # next() first runs on bar 100


def test_minitrade_data_accessors(stocks: pd.DataFrame) -> None:
    """data["AAPL", "Close"], data.now, data.tickers / the_ticker, df.ta.apply / df.ta.join per asset (the values
    minitrade 0.1.40 gives on this data)."""
    out: dict[str, object] = {}

    class Probe(Strategy):
        def init(self) -> None:
            body = self.data.df.ta.apply(lambda f: (f["Close"] - f["Open"]).rename("Body").to_frame())
            joined = self.data.df.ta.join(body)
            out["join"] = (joined.shape, list(joined.columns[4:7]), float(joined.iloc[:, 5].sum()))
            mean = self.data.df.ta.apply(lambda f, n: f["Close"].rolling(n).mean(), 3)
            out["apply"] = (mean.shape, list(mean.columns), float(mean.iloc[-1].sum()))

        def next(self) -> None:
            if len(self.data) == 30:
                out["pair"] = (float(self.data["AAPL", "Close"][-1]), len(self.data["AAPL", "Close"]))
                out["now"] = str(self.data.now)
                out["tickers"] = list(self.data.tickers)
                with pytest.raises(ValueError, match="Ticker must explicitly"):
                    _ = self.data.the_ticker
                out["all"] = self.data[:].shape

    Backtest(stocks, Probe, cash=100_000).run()
    assert out["join"] == (
        (754, 24),
        [("AAPL", "Volume"), ("AAPL", "Body"), ("IBM", "Open")],
        pytest.approx(-27.997256),
    )
    assert out["apply"] == ((754, 4), ["AAPL", "IBM", "KO", "MSFT"], pytest.approx(362.19))
    assert out["pair"] == (72.779999, 30)
    assert out["now"] == "2012-02-14 00:00:00+00:00"
    assert out["tickers"] == ["AAPL", "IBM", "KO", "MSFT"] and out["all"] == (30, 20)


def test_one_asset_with_two_level_columns_runs_as_minitrade(stocks: pd.DataFrame) -> None:
    """minitrade's single-ticker data: 1-D fields, the asset's own frame as data.df, orders without a ticker;
    the numbers minitrade 0.1.40 gives for this SMA cross."""
    from tradeforge.compat.lib import crossover

    def sma(values: object, n: int) -> np.ndarray:
        return pd.Series(values).rolling(n).mean().to_numpy()

    class SmaCross(Strategy):
        def init(self) -> None:
            price = self.data.Close
            self.ma1 = self.I(sma, price, 10, overlay=True)
            self.ma2 = self.I(sma, price, 20, overlay=True)
            self.shapes = (price.shape, self.data.df.shape, self.ma1.shape, repr(self.data)[:12])

        def next(self) -> None:
            if crossover(self.ma1, self.ma2):
                self.position().close()
                self.buy()
            elif crossover(self.ma2, self.ma1):
                self.position().close()
                self.sell()

    aapl = pd.concat({"AAPL": stocks["AAPL"]}, axis=1)
    stats = Backtest(aapl, SmaCross, commission=0.002).run()
    assert stats["# Trades"] == 39
    assert stats["Equity Final [$]"] == pytest.approx(11_658.704117, abs=1e-6)
    assert stats["_strategy"].shapes == ((754,), (754, 5), (754,), "<MultiData i")
    assert stats["_trade_start_bar"] == 19 and stats["_positions"] == {"AAPL": -105, "Cash": 68}
    first = stats["_trades"][["Size", "EntryBar", "ExitBar", "EntryPrice", "ExitPrice"]].iloc[0].tolist()
    assert first == pytest.approx([-122.0, 76.0, 105.0, 81.352685566, 80.214287])


def test_one_dimensional_df_is_a_series_with_minitrade_data(stocks: pd.DataFrame) -> None:
    """minitrade's .df: a Series for a 1-D array (a single asset's field, a 1-D indicator), a DataFrame for
    several assets; single-asset Backtesting.py data keeps Backtesting.py's one-column DataFrame."""
    seen: dict[str, object] = {}

    class Probe(Strategy):
        def init(self) -> None:
            self.roc = self.I(self.data.Close.df.pct_change(5), name="roc")
            self.sma = self.I(lambda c: pd.Series(c).rolling(3).mean().to_numpy(), self.data.Close, name="sma3")

        def next(self) -> None:
            seen.setdefault("close", (type(self.data.Close.df).__name__, self.data.Close.df.name))
            seen.setdefault("roc", (type(self.roc.df).__name__, float(self.roc.df.iloc[-1])))
            seen.setdefault("sma", (type(self.sma.df).__name__, self.sma.df.name, len(self.sma.df)))

    Backtest(pd.concat({"KO": stocks["KO"]}, axis=1), Probe).run()
    close = stocks["KO", "Close"]
    assert seen["close"] == ("Series", "KO")
    assert seen["roc"] == ("Series", pytest.approx(close.iloc[5] / close.iloc[0] - 1))
    assert seen["sma"] == ("Series", "sma3", 6)
    from tradeforge.compat.test import GOOG

    kinds: list[str] = []

    class Plain(Strategy):
        def next(self) -> None:
            kinds.append(type(self.data.Close.df).__name__)

    Backtest(GOOG.iloc[:5], Plain).run()
    assert set(kinds) == {"DataFrame"}


def test_review_edges_behave_as_minitrade(stocks: pd.DataFrame) -> None:
    """Buy & Hold and the annualized figures from start_on_day's bar (minitrade 0.1.40's numbers); a weight of 0
    closes hedged trades that net to nothing; fail_fast=1 is True; data[:] is a 2-D array with .df."""
    naive = stocks.copy()
    naive.index = naive.index.tz_localize(None)

    class Late(Strategy):
        def init(self) -> None:
            self.start_on_day(300)

        def next(self) -> None:
            if len(self.data) == 400:
                self.alloc.assume_zero()
                self.alloc.weights["KO"] = 0.5
                self.rebalance(force=True)

    stats = Backtest(naive, Late, cash=100_000).run()
    assert stats["Buy & Hold Return [%]"] == pytest.approx(29.449284567728597, rel=1e-12)
    assert stats["Return [%]"] == pytest.approx(2.1277400000000055, rel=1e-12)
    assert stats["Return (Ann.) [%]"] == pytest.approx(1.1755023998524683, rel=1e-9)
    assert stats["Volatility (Ann.) [%]"] == pytest.approx(5.815138785899973, rel=1e-9)
    assert stats["Sharpe Ratio"] == pytest.approx(0.2021452011949777, rel=1e-9)

    class Hedged(Strategy):
        def next(self) -> None:
            n = len(self.data)
            if n == 5:
                self.buy(symbol="AAPL", size=10)
                self.sell(symbol="AAPL", size=10)
            elif n == 10:
                self.alloc.assume_zero()
                self.alloc.weights["KO"] = 0.5
                self.rebalance(force=True)

    trades = Backtest(naive, Hedged, cash=100_000, hedging=True).run()["_trades"]
    assert trades[["EntryBar", "ExitBar", "Ticker", "Size"]].to_numpy().tolist() == [
        [5, 10, "AAPL", -10],
        [5, 10, "AAPL", 10],
        [10, 753, "KO", 1336],
    ]

    class TooMuch(Strategy):
        def next(self) -> None:
            if len(self.data) == 3:
                self.buy(symbol="IBM", size=1000)

    for truthy in (1, np.True_):
        with pytest.raises(RuntimeError, match=r"Not enough liquidity for <Order IBM size=1000\.0, contingent=0>"):
            Backtest(naive, TooMuch, cash=100_000, fail_fast=truthy).run()

    seen: dict[str, object] = {}

    class Whole(Strategy):
        def next(self) -> None:
            if len(self.data) == 5:
                everything = self.data[:]
                seen["all"] = (everything.shape, everything[-1][:2].tolist(), everything.df.shape)

    Backtest(naive, Whole).run()
    first = naive.iloc[4]
    assert seen["all"] == ((5, 20), [first["AAPL", "Open"], first["AAPL", "High"]], (5, 20))


def test_holding_and_record_misuse_say_what_to_do(stocks: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match=r"holding\['AAPL'\] = 10.5: holdings are whole units"):
        Backtest(stocks, Noted, holding={"AAPL": 10.5})
    with pytest.raises(ValueError, match="Short holdings need at least their value in cash"):
        Backtest(stocks, Noted, cash=10_000, holding={"KO": -400}).run()

    class Listed(Strategy):
        def next(self) -> None:
            self.record(v=[1.0, 2.0])

    with pytest.raises(TypeError, match=r"record\(v=...\) got a list of 2 values"):
        Backtest(stocks, Listed).run()


def test_limit_offset_closes_left_assets_with_limit_orders(stocks: pd.DataFrame) -> None:
    seen: list[tuple[str, float, float | None]] = []

    class Switch(Strategy):
        def next(self) -> None:
            n = len(self.data)
            if n in (12, 20):
                self.alloc.assume_zero()
                self.alloc.weights["AAPL" if n == 12 else "KO"] = 0.5
                orders = self.rebalance(force=True, limit_offset=0.01)
                if n == 20:
                    seen.extend((o.ticker, o.size, o.limit) for o in orders)

    Backtest(stocks, Switch, cash=100_000).run()
    close = stocks.xs("Close", axis=1, level=1).iloc[19]
    (exit_ticker, exit_size, exit_limit), (buy_ticker, _, buy_limit) = seen
    assert (exit_ticker, buy_ticker) == ("AAPL", "KO") and exit_size < 0
    assert exit_limit == pytest.approx(close["AAPL"] * 1.01) and buy_limit == pytest.approx(close["KO"] * 0.99)


def test_random_sl_tp_orders_give_minitrades_results(stocks: pd.DataFrame) -> None:
    """Random buys and sells with stop-losses and take-profits on four assets, with a rebalance now and then:
    minitrade 0.1.40's final equity, trade count and _orders (1,965 rows; sizes as minitrade reads them)."""
    import random

    class RandomBrackets(Strategy):
        def init(self) -> None:
            self.rng = random.Random(1)

        def next(self) -> None:
            rng = self.rng
            tickers = list(self.data.tickers)
            for _ in range(rng.choice((0, 0, 1))):
                ticker = rng.choice(tickers)
                c = float(self.data[ticker].Close[-1])
                side = rng.choice((1, -1))
                size = rng.randint(1, 200)
                kw: dict[str, float] = {}
                if rng.random() < 0.6:
                    kw["sl"] = c * (1 - side * rng.uniform(0.01, 0.05))
                if rng.random() < 0.6:
                    kw["tp"] = c * (1 + side * rng.uniform(0.01, 0.05))
                (self.buy if side > 0 else self.sell)(ticker=ticker, size=size, **kw)
            if rng.random() < 0.05:
                self.alloc.assume_zero()
                self.alloc.weights[rng.choice(tickers)] = 0.3
                self.rebalance(force=True)

    stats = Backtest(stocks, RandomBrackets, cash=1_000_000, fail_fast=False).run()
    assert stats["Equity Final [$]"] == pytest.approx(1_116_642.608013, abs=1e-6)
    assert stats["# Trades"] == 268
    orders = stats["_orders"]
    assert len(orders) == 1965
    rows = orders.reset_index().iloc[20:24].astype(str).to_numpy().tolist()
    assert rows == [
        ["2012-02-06 00:00:00+00:00", "AAPL", "Buy", "134"],
        ["2012-02-07 00:00:00+00:00", "AAPL", "Sell", "-134"],
        ["2012-02-03 00:00:00+00:00", "MSFT", "Buy", "49"],
        ["2012-01-25 00:00:00+00:00", "IBM", "Buy", "127"],
    ]
