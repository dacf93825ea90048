"""The ``.ta`` accessor: values equal TA-Lib's own, inputs from columns in any case, (symbol, field) frames,
generated methods for every TA-Lib function, and the error messages."""

from __future__ import annotations

import inspect
import warnings

import numpy as np
import pandas as pd
import pytest
import talib
from talib import abstract

from tradeforge.compat.ta import TAAccessor, register, ta_functions
from tradeforge.data import load_sample_frame

ALL_FUNCTIONS: list[str] = talib.get_functions()


@pytest.fixture(scope="module", autouse=True)
def _registered() -> None:
    register()


def random_walk(n: int = 300, seed: int = 7, columns: tuple[str, ...] = ("Open", "High", "Low", "Close", "Volume")):
    """A real-looking daily OHLCV frame (Backtesting.py's capitalised column names by default)."""
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.015, n)))
    open_ = close * np.exp(rng.normal(0, 0.005, n))
    high = np.maximum(open_, close) * np.exp(np.abs(rng.normal(0, 0.006, n)))
    low = np.minimum(open_, close) * np.exp(-np.abs(rng.normal(0, 0.006, n)))
    volume = rng.integers(1_000, 50_000, n).astype(float)
    index = pd.date_range("2023-01-02", periods=n, freq="B", name="Date")
    return pd.DataFrame(dict(zip(columns, (open_, high, low, close, volume), strict=True)), index=index)


@pytest.fixture
def df() -> pd.DataFrame:
    return random_walk()


def arr(df: pd.DataFrame, column: str) -> np.ndarray:
    return df[column].to_numpy(dtype=np.float64)


def assert_same(actual: pd.Series | np.ndarray, expected: np.ndarray) -> None:
    """Exactly equal, NaN in the same places."""
    np.testing.assert_array_equal(np.asarray(actual, dtype=np.float64), np.asarray(expected, dtype=np.float64))


# --- values -----------------------------------------------------------------------------------------------------


def test_sma_equals_talib_with_nan_positions(df: pd.DataFrame) -> None:
    result = df.ta.sma(10)
    expected = talib.SMA(arr(df, "Close"), timeperiod=10)
    assert isinstance(result, pd.Series)
    assert result.name == "SMA_10"
    assert result.dtype == np.float64
    assert result.index.equals(df.index)
    assert result.isna().sum() == 9 and result.iloc[:9].isna().all() and result.iloc[9:].notna().all()
    assert_same(result, expected)
    assert_same(df.ta.sma(10).values, expected)
    assert result.iloc[-1] == pytest.approx(df["Close"].iloc[-10:].mean())


def test_default_parameters_are_talibs(df: pd.DataFrame) -> None:
    result = df.ta.sma()
    assert result.name == "SMA_30"
    assert_same(result, talib.SMA(arr(df, "Close")))


def test_rsi(df: pd.DataFrame) -> None:
    result = df.ta.rsi(14)
    assert result.name == "RSI_14"
    assert_same(result, talib.RSI(arr(df, "Close"), timeperiod=14))
    assert result.dropna().between(0, 100).all()


def test_macd_has_three_columns(df: pd.DataFrame) -> None:
    result = df.ta.macd(12, 26, 9)
    macd, signal, hist = talib.MACD(arr(df, "Close"), 12, 26, 9)
    assert isinstance(result, pd.DataFrame)
    assert list(result.columns) == ["macd", "macdsignal", "macdhist"]
    assert result.index.equals(df.index)
    assert (result.dtypes == np.float64).all()
    assert_same(result["macd"], macd)
    assert_same(result["macdsignal"], signal)
    assert_same(result["macdhist"], hist)


def test_atr_uses_high_low_close(df: pd.DataFrame) -> None:
    result = df.ta.atr(14)
    assert result.name == "ATR_14"
    assert_same(result, talib.ATR(arr(df, "High"), arr(df, "Low"), arr(df, "Close"), timeperiod=14))
    wider = df.assign(High=df["High"] * 1.05)
    assert (wider.ta.atr(14).dropna() > result.dropna()).all()


def test_bbands(df: pd.DataFrame) -> None:
    result = df.ta.bbands(20, 2, 2)
    upper, middle, lower = talib.BBANDS(arr(df, "Close"), timeperiod=20, nbdevup=2, nbdevdn=2)
    assert list(result.columns) == ["upperband", "middleband", "lowerband"]
    assert_same(result["upperband"], upper)
    assert_same(result["middleband"], middle)
    assert_same(result["lowerband"], lower)
    assert_same(result["middleband"], df.ta.sma(20))


def test_candle_pattern_on_real_bars() -> None:
    goog = load_sample_frame("GOOG")
    result = goog.ta.cdlengulfing()
    expected = talib.CDLENGULFING(arr(goog, "open"), arr(goog, "high"), arr(goog, "low"), arr(goog, "close"))
    assert result.name == "CDLENGULFING"
    assert result.dtype == np.float64
    assert_same(result, expected)
    assert (result > 0).sum() > 10 and (result < 0).sum() > 10


def test_nan_inside_the_data_and_integer_columns(df: pd.DataFrame) -> None:
    gappy = df.copy()
    gappy.iloc[150, gappy.columns.get_loc("Close")] = np.nan
    result = gappy.ta.sma(5)
    assert_same(result, talib.SMA(arr(gappy, "Close"), timeperiod=5))
    assert result.iloc[150:155].isna().all()
    ints = df.assign(Volume=df["Volume"].astype("int64"), Close=df["Close"].astype("Float64"))
    assert_same(ints.ta.obv(), talib.OBV(arr(df, "Close"), arr(df, "Volume")))


# --- inputs -----------------------------------------------------------------------------------------------------


def test_series_accessor(df: pd.DataFrame) -> None:
    close = df["Close"]
    result = close.ta.sma(10)
    assert result.name == "SMA_10"
    assert result.index.equals(df.index)
    assert_same(result, talib.SMA(arr(df, "Close"), timeperiod=10))
    assert_same(df["High"].ta.rsi(7), talib.RSI(arr(df, "High"), timeperiod=7))
    assert_same(close.ta.macd()["macdhist"], talib.MACD(arr(df, "Close"))[2])


def test_series_accessor_two_input_function_with_array_input(df: pd.DataFrame) -> None:
    result = df["High"].ta.beta(5, price0=df["High"], price1=df["Low"])
    assert_same(result, talib.BETA(arr(df, "High"), arr(df, "Low"), timeperiod=5))


def test_price_option_picks_another_column(df: pd.DataFrame) -> None:
    result = df.ta.sma(10, price="high")
    assert_same(result, talib.SMA(arr(df, "High"), timeperiod=10))
    assert not np.allclose(result.dropna(), df.ta.sma(10).dropna())
    atr = df.ta.atr(5, prices=["Open", "low", "close"])
    assert_same(atr, talib.ATR(arr(df, "Open"), arr(df, "Low"), arr(df, "Close"), timeperiod=5))


def test_array_like_input(df: pd.DataFrame) -> None:
    periods = np.where(np.arange(len(df)) % 2 == 0, 5.0, 10.0)
    result = df.ta.mavp(periods=periods, minperiod=2, maxperiod=20)
    assert_same(result, talib.MAVP(arr(df, "Close"), periods, minperiod=2, maxperiod=20))
    assert_same(df.ta.sma(10, price=df["High"] * 2), talib.SMA(arr(df, "High") * 2, timeperiod=10))


def test_keyword_parameters(df: pd.DataFrame) -> None:
    close = arr(df, "Close")
    by_name = df.ta.macd(fastperiod=5, slowperiod=20, signalperiod=4)
    assert_same(by_name["macd"], talib.MACD(close, 5, 20, 4)[0])
    mixed = df.ta.macd(5, signalperiod=4, slowperiod=20)
    pd.testing.assert_frame_equal(mixed, by_name)
    bands = df.ta.bbands(20, nbdevup=1.5, nbdevdn=3, matype=1)
    assert_same(bands["upperband"], talib.BBANDS(close, 20, 1.5, 3, 1)[0])
    assert_same(bands["lowerband"], talib.BBANDS(close, 20, 1.5, 3, 1)[2])
    assert df.ta.sar(acceleration=0.01, maximum=0.1).name == "SAR_0.01_0.1"


@pytest.mark.parametrize("case", [str.lower, str.upper, str.capitalize])
def test_column_names_in_any_case(df: pd.DataFrame, case) -> None:
    renamed = df.rename(columns=case)
    pd.testing.assert_series_equal(renamed.ta.atr(14), df.ta.atr(14))
    pd.testing.assert_series_equal(renamed.ta.sma(10), df.ta.sma(10))
    pd.testing.assert_series_equal(renamed.ta.ad(), df.ta.ad())


def test_lowercase_frame_end_to_end() -> None:
    low = random_walk(columns=("open", "high", "low", "close", "volume"))
    assert_same(low.ta.roc(10), talib.ROC(arr(low, "close"), timeperiod=10))
    assert_same(low.ta.mfi(14), talib.MFI(*(arr(low, c) for c in ("high", "low", "close", "volume")), timeperiod=14))


# --- (symbol, field) frames -------------------------------------------------------------------------------------


@pytest.fixture
def two_symbols() -> tuple[pd.DataFrame, dict[str, pd.DataFrame]]:
    frames = {"AAA": random_walk(seed=1), "BBB": random_walk(seed=2)}
    wide = pd.concat(frames, axis=1, names=["symbol", "field"])
    return wide, frames


def test_two_level_frame_one_output(two_symbols) -> None:
    wide, frames = two_symbols
    result = wide.ta.sma(10)
    assert isinstance(result, pd.DataFrame)
    assert list(result.columns) == ["AAA", "BBB"]
    assert result.index.equals(wide.index)
    for symbol, frame in frames.items():
        assert_same(result[symbol], talib.SMA(arr(frame, "Close"), timeperiod=10))
        assert_same(result[symbol], frame.ta.sma(10))
    atr = wide.ta.atr(14)
    for symbol, frame in frames.items():
        assert_same(atr[symbol], frame.ta.atr(14))
    assert not np.allclose(atr["AAA"].dropna(), atr["BBB"].dropna())


def test_two_level_frame_several_outputs(two_symbols) -> None:
    wide, frames = two_symbols
    result = wide.ta.macd(12, 26, 9)
    assert isinstance(result.columns, pd.MultiIndex)
    assert list(result.columns) == [(s, o) for s in ("AAA", "BBB") for o in ("macd", "macdsignal", "macdhist")]
    for symbol, frame in frames.items():
        expected = talib.MACD(arr(frame, "Close"), 12, 26, 9)
        for name, values in zip(("macd", "macdsignal", "macdhist"), expected, strict=True):
            assert_same(result[(symbol, name)], values)
        pd.testing.assert_frame_equal(result[symbol], frame.ta.macd(12, 26, 9), check_names=False)


def test_two_level_frame_missing_field_names_the_symbol(two_symbols) -> None:
    wide, _ = two_symbols
    narrow = wide.drop(columns=[("BBB", "High")])
    with pytest.raises(ValueError, match=r"ATR needs the column\(s\) \['high'\] for symbol 'BBB'"):
        narrow.ta.atr(14)


# --- generated from TA-Lib's table ------------------------------------------------------------------------------


def test_every_talib_function_is_a_documented_method(df: pd.DataFrame) -> None:
    assert len(ALL_FUNCTIONS) > 150
    listed = dir(df.ta)
    assert set(ta_functions()) == {name.lower() for name in ALL_FUNCTIONS}
    for name in ALL_FUNCTIONS:
        info = abstract.Function(name).info
        method = getattr(df.ta, name.lower())
        assert name.lower() in listed
        assert method.__name__ == name
        assert method.__doc__ and info["display_name"] in method.__doc__ and info["group"] in method.__doc__
        for parameter, default in info["parameters"].items():
            assert f"{parameter}: default {default!r}" in method.__doc__
        for output in info["output_names"]:
            assert output in method.__doc__
        positional = [
            p.name for p in inspect.signature(method).parameters.values() if p.kind is p.POSITIONAL_OR_KEYWORD
        ]
        assert positional == list(info["parameters"])


@pytest.mark.parametrize("name", ALL_FUNCTIONS)
def test_every_function_runs_and_matches_talib(df: pd.DataFrame, name: str) -> None:
    info = abstract.Function(name).info
    periods = np.full(len(df), 10.0)
    columns = {"open": "Open", "high": "High", "low": "Low", "close": "Close", "volume": "Volume"}
    inputs = []
    for value in info["input_names"].values():
        for column in [value] if isinstance(value, str) else value:
            inputs.append(periods if column == "periods" else arr(df, columns[column]))
    expected = talib.__dict__[name](*inputs)
    result = df.ta.mavp(periods=periods) if name == "MAVP" else getattr(df.ta, name.lower())()
    expected = expected if isinstance(expected, tuple | list) else [expected]
    if len(expected) == 1:
        assert isinstance(result, pd.Series)
        assert_same(result, expected[0])
    else:
        assert list(result.columns) == info["output_names"]
        for column, values in zip(result.columns, expected, strict=True):
            assert_same(result[column], values)
    assert result.index.equals(df.index)
    dtypes = [result.dtype] if isinstance(result, pd.Series) else list(result.dtypes)
    assert all(dtype == np.float64 for dtype in dtypes)


# --- errors -----------------------------------------------------------------------------------------------------


def test_unknown_function_suggests_close_matches(df: pd.DataFrame) -> None:
    with pytest.raises(AttributeError, match=r"'smaa'.*did you mean sma"):
        df.ta.smaa(10)
    with pytest.raises(AttributeError, match=r"did you mean .*bbands"):
        df["Close"].ta.bband(20)
    with pytest.raises(AttributeError, match=r"did you mean rsi"):
        _ = df.ta.RSI
    with pytest.raises(AttributeError, match=r"no TA-Lib function 'zzzzzz' \(dir"):
        _ = df.ta.zzzzzz
    assert not hasattr(df.ta, "_private")


def test_missing_columns_are_named_with_the_present_ones(df: pd.DataFrame) -> None:
    with pytest.raises(
        ValueError, match=r"ATR needs the column\(s\) \['high', 'low'\].*has columns \['Open', 'Close'\]"
    ):
        df[["Open", "Close"]].ta.atr(14)
    with pytest.raises(ValueError, match=r"SMA needs the column\(s\) \['Adj Close'\]"):
        df.ta.sma(10, price="Adj Close")
    with pytest.raises(ValueError, match=r"OBV needs the column\(s\) \['volume'\]"):
        df.drop(columns="Volume").ta.obv()


def test_ohlc_function_on_a_series_says_to_use_a_dataframe(df: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match=r"ATR needs the column\(s\) \['high', 'low', 'close'\].*Series.*DataFrame"):
        df["Close"].ta.atr(14)
    with pytest.raises(ValueError, match=r"CDLENGULFING needs .*'open'.*call it on a DataFrame"):
        df["Close"].ta.cdlengulfing()
    with pytest.raises(ValueError, match=r"price='high' names a column.*Series"):
        df["Close"].ta.sma(10, price="high")


def test_talib_errors_become_value_errors_naming_the_call(df: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match=r"TA-Lib SMA\(timeperiod=-3\) failed") as caught:
        df.ta.sma(-3)
    assert caught.value.__cause__ is not None
    with pytest.raises(ValueError, match=r"TA-Lib BBANDS\(timeperiod=20, nbdevup='x', nbdevdn=2.0, matype=0\)"):
        df.ta.bbands(20, "x")


def test_bad_arguments_are_type_errors_with_the_signature(df: pd.DataFrame) -> None:
    with pytest.raises(TypeError, match=r"SMA: too many positional arguments; call it as sma\(timeperiod=30"):
        df.ta.sma(10, 20)
    with pytest.raises(TypeError, match=r"CDLENGULFING: .*call it as cdlengulfing\("):
        df.ta.cdlengulfing(3)
    with pytest.raises(TypeError, match=r"RSI: got an unexpected keyword argument 'period'"):
        df.ta.rsi(period=14)


def test_non_numeric_or_misaligned_inputs(df: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match=r"SMA: input price='Label' is not numeric"):
        df.assign(Label="x").ta.sma(5, price="Label")
    with pytest.raises(ValueError, match=r"input periods has shape \(3,\)"):
        df.ta.mavp(periods=[5.0, 6.0, 7.0])


# --- registration and Backtesting.py ----------------------------------------------------------------------------


def test_register_is_idempotent_and_silent(df: pd.DataFrame) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        register()
        register()
    assert isinstance(df.ta, TAAccessor)
    assert isinstance(df["Close"].ta, TAAccessor)


def test_bound_method_is_named_like_the_talib_function(df: pd.DataFrame) -> None:
    assert df.ta.sma.__name__ == "SMA"
    assert df.ta.cdlengulfing.__name__ == "CDLENGULFING"
    assert "Simple Moving Average" in (df.ta.sma.__doc__ or "")


def test_usable_inside_backtesting_py_I() -> None:
    backtesting = pytest.importorskip("backtesting")
    goog = load_sample_frame("GOOG").rename(columns=str.capitalize).tz_localize(None).iloc[:400]
    seen: dict[str, object] = {}

    class UsesTa(backtesting.Strategy):
        def init(self) -> None:
            seen["sma"] = self.I(self.data.df.ta.sma, 10)
            seen["macd"] = self.I(self.data.df.ta.macd, 12, 26, 9)

        def next(self) -> None:
            pass

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        backtesting.Backtest(goog, UsesTa, cash=100_000).run()
    sma, macd = seen["sma"], seen["macd"]
    assert sma.name == "SMA(10)"
    assert_same(sma, talib.SMA(arr(goog, "Close"), timeperiod=10))
    assert macd.shape == (3, len(goog))
    assert_same(macd[2], talib.MACD(arr(goog, "Close"), 12, 26, 9)[2])
