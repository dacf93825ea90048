"""tradeforge.compat._libfuncs against Backtesting.py 0.6.6's backtesting.lib on the same inputs."""

from __future__ import annotations

import base64
import json
import math
import warnings
from fractions import Fraction
from multiprocessing.dummy import Pool as ThreadPool
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from backtesting import lib
from backtesting._util import _Array
from backtesting.test import GOOG
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from tradeforge.compat import _libfuncs as tf
from tradeforge.data import load_sample_frame

NAN = float("nan")
INF = float("inf")

# Values that make ties, crossings and NaN/inf comparisons likely, mixed with arbitrary floats.
_special = st.sampled_from([0.0, -0.0, 1.0, -1.0, 0.5, 2.0, NAN, INF, -INF])
_element = st.one_of(_special, _special, st.floats(allow_nan=True, allow_infinity=True, width=64))
float_arrays = hnp.arrays(np.float64, st.integers(0, 12), elements=_element)
scalars = st.one_of(
    _special,
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(-3, 3),
    st.integers(-(2**70), 2**70),
    st.booleans(),
    st.sampled_from([np.float64(0.5), np.float64(NAN), np.int64(1), np.float32(0.5), Fraction(1, 2)]),
)


def _ohlc_frame(name: str) -> pd.DataFrame:
    """A bundled tradeforge sample in Backtesting.py's column layout (Open, High, Low, Close, Volume)."""
    return load_sample_frame(name).rename(columns=str.capitalize)


def _quiet(func: Any, *args: Any, **kwargs: Any) -> Any:
    """Call, silencing numpy's 'mean of empty slice' / 'all-NaN slice' RuntimeWarnings (both sides emit them)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return func(*args, **kwargs)


def _same(ours: Any, theirs: Any) -> None:
    """Equal values, NaN equal to NaN, ints staying ints."""
    if isinstance(theirs, float | np.floating) and math.isnan(theirs):
        assert isinstance(ours, float | np.floating) and math.isnan(ours), (ours, theirs)
    else:
        assert ours == theirs, (ours, theirs)
        assert type(ours) is type(theirs) or (isinstance(ours, float) and isinstance(theirs, float)), (ours, theirs)


def _input_kinds(values: np.ndarray) -> list[tuple[str, Any, Any]]:
    """(label, input for tradeforge, same data for Backtesting.py): the shapes strategies pass in."""
    index = pd.date_range("2024-01-01", periods=len(values), freq="D")
    with np.errstate(over="ignore"):
        as_f32 = values.astype(np.float32)
    return [
        ("ndarray", values, values),
        ("_Array", _Array(values, name="x"), _Array(values, name="x")),
        ("Series", pd.Series(values, index=index), values),  # positional here; bt does label lookups on Series
        ("list", values.tolist(), values.tolist()),
        ("float32", as_f32, as_f32.copy()),
    ]


# ---------------------------------------------------------------------------------------------- crossover


class TestCrossover:
    def test_examples(self) -> None:
        up, down = np.array([1.0, 3.0]), np.array([3.0, 1.0])
        level = np.array([2.0, 2.0])
        assert tf.crossover(up, level) is True
        assert tf.crossover(down, level) is False
        assert tf.crossover(level, down) is True
        assert tf.crossover(up, 2) is True
        assert tf.crossover(up, 2.0) is True
        assert tf.crossover(2.0, down) is True
        assert tf.crossover(up, 3.0) is False  # equal is not above
        assert tf.crossover(np.array([1.0, NAN]), 0.5) is False
        assert tf.cross(down, 2.0) is True and tf.cross(up, level) is True and tf.cross(up, up) is False

    @pytest.mark.parametrize(
        ("s1", "s2"),
        [
            (np.array([]), np.array([])),
            (np.array([1.0]), np.array([0.0])),
            (np.array([1.0]), 0.5),
            (0.5, np.array([1.0])),
            (np.array(1.0), 0.5),  # 0-d
            (1.0, 2.0),
            (np.array([[1.0], [3.0]]), np.array([[2.0], [2.0]])),  # 2-D column vectors
            (np.array([1, 3]), np.array([2, 2])),  # ints
            (np.array([2**62, 2**62 + 2]), 2**62 + 1),  # ints beyond float64 precision
            (np.array([1.0, 3.0]), 2**60),
            (np.array([0.0, 2.0]), True),
            ([1.0, 3.0], (2.0, 2.0)),
            (np.array([1.0, 3.0]), Fraction(2)),
            (np.array([1.0, 3.0], dtype=np.float32), np.array([2.0, 2.0])),
            (np.array([1.0, 3.0]).astype(">f8"), np.array([2.0, 2.0])),  # non-native byte order
            (np.array([1.0, 3.0]), np.float64(2.0)),
            (np.float64(2.0), np.array([3.0, 1.0])),
            (np.array([1.0, 3.0]), np.int64(2)),
        ],
    )
    def test_edge_cases_match_backtesting(self, s1: Any, s2: Any) -> None:
        for ours, theirs in ((tf.crossover, lib.crossover), (tf.cross, lib.cross)):
            expected = bool(theirs(s1, s2))
            got = ours(s1, s2)
            assert type(got) is bool
            assert got == expected, (ours.__name__, s1, s2)

    def test_series_are_read_by_position(self) -> None:
        close = GOOG.Close
        sma = close.rolling(10).mean()
        hits = [i for i in range(2, 400) if tf.crossover(close.iloc[:i], sma.iloc[:i])]
        expected = [i for i in range(2, 400) if lib.crossover(close.iloc[:i], sma.iloc[:i])]
        assert hits == expected and len(hits) > 5

    def test_scan_of_real_data_matches(self) -> None:
        close = _Array(GOOG.Close.to_numpy(), name="Close")
        sma = _Array(GOOG.Close.rolling(20).mean().to_numpy(), name="SMA")  # leading NaNs
        for i in range(0, len(close) + 1, 3):
            a, b = close[:i], sma[:i]
            assert tf.crossover(a, b) == lib.crossover(a, b)
            assert tf.crossover(b, a) == lib.crossover(b, a)
            assert tf.cross(a, b) == lib.cross(a, b)
            assert tf.crossover(a, 300.0) == lib.crossover(a, 300.0)
            assert tf.cross(a, 300) == lib.cross(a, 300)

    @settings(max_examples=400, deadline=None)
    @given(float_arrays, float_arrays)
    def test_arrays_match_backtesting(self, x: np.ndarray, y: np.ndarray) -> None:
        for (label, ours_x, bt_x), (_, ours_y, bt_y) in zip(_input_kinds(x), _input_kinds(y), strict=True):
            for ours, theirs in ((tf.crossover, lib.crossover), (tf.cross, lib.cross)):
                got = ours(ours_x, ours_y)
                assert type(got) is bool
                assert got == bool(theirs(bt_x, bt_y)), (label, ours.__name__)

    @pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")  # float32 vs huge ints, both sides
    @settings(max_examples=400, deadline=None)
    @given(float_arrays, scalars)
    def test_array_and_number_match_backtesting(self, x: np.ndarray, level: Any) -> None:
        for label, ours_x, bt_x in _input_kinds(x):
            for ours, theirs in ((tf.crossover, lib.crossover), (tf.cross, lib.cross)):
                assert ours(ours_x, level) == bool(theirs(bt_x, level)), (label, ours.__name__)
                assert ours(level, ours_x) == bool(theirs(level, bt_x)), (label, ours.__name__)


# ---------------------------------------------------------------------------------------------- barssince


class TestBarssince:
    def test_examples(self) -> None:
        assert tf.barssince(np.array([True, False, False])) == 2
        assert tf.barssince(np.array([False, False, True])) == 0
        assert tf.barssince(np.array([False, False])) == math.inf
        assert tf.barssince(np.array([]), default=-1) == -1
        assert tf.barssince(np.array([NAN, 0.0])) == 1  # NaN is truthy
        assert tf.barssince(np.array([-0.0, 0.0]), None) is None

    def test_long_arrays_past_the_first_chunks(self) -> None:
        for n in (1, 63, 64, 65, 320, 5000):
            for hit in {0, n // 2, n - 1}:
                cond = np.zeros(n, dtype=bool)
                cond[hit] = True
                assert tf.barssince(cond) == lib.barssince(cond) == n - 1 - hit

    @pytest.mark.parametrize(
        "condition",
        [
            [False, True, False],
            (0, 0, 0),
            np.array([1, 0, 0], dtype=np.int64),
            np.array([1 + 0j, 0j]),
            np.array(["a", ""], dtype=object),
            np.array([None, 0], dtype=object),
            "",
            "ab",
        ],
    )
    def test_other_inputs_match_backtesting(self, condition: Any) -> None:
        _same(tf.barssince(condition), lib.barssince(condition))
        _same(tf.barssince(condition, default=-7), lib.barssince(condition, default=-7))

    def test_real_condition(self) -> None:
        up = GOOG.Close > GOOG.Open
        for i in range(0, len(up) + 1, 7):
            part = up.iloc[:i]
            expected = lib.barssince(part.to_numpy())
            _same(tf.barssince(part), expected)  # DatetimeIndex Series: bt raises KeyError under pandas 3
            _same(tf.barssince(_Array(part.to_numpy(), name="up")), expected)
            _same(tf.barssince(part.reset_index(drop=True)), lib.barssince(part.reset_index(drop=True)))

    @settings(max_examples=400, deadline=None)
    @given(float_arrays, st.sampled_from([np.inf, -1, None]))
    def test_float_and_bool_arrays_match_backtesting(self, values: np.ndarray, default: Any) -> None:
        conditions = [values, values > 0.5, values != values]
        for cond in conditions:
            expected = lib.barssince(cond, default)
            for label, ours_in, _ in _input_kinds(cond)[:4]:
                got = tf.barssince(ours_in, default)
                assert got == expected or (got is expected), label
                assert type(got) is type(expected), label


# ----------------------------------------------------------------------------------------------- quantile


class TestQuantile:
    def test_examples(self) -> None:
        assert tf.quantile(np.array([1.0, 2.0, 3.0, 2.5])) == pytest.approx(2 / 3)
        assert tf.quantile(np.array([1.0, 2.0, 3.0]), 0.5) == 2.0
        assert tf.quantile(np.array([1.0, NAN, 3.0]), 1.0) == 3.0
        assert math.isnan(tf.quantile(np.array([])))

    def test_out_of_range_quantile_raises_like_backtesting(self) -> None:
        for q in (-0.1, 1.5, NAN):
            with pytest.raises(AssertionError):
                lib.quantile(np.array([1.0, 2.0]), q)
            with pytest.raises(AssertionError, match=r"within \[0, 1\]"):
                tf.quantile(np.array([1.0, 2.0]), q)
            with pytest.raises(ValueError, match="divide by 100"):
                tf.quantile(np.array([1.0, 2.0]), q)

    @pytest.mark.parametrize("values", [np.array([5.0]), np.array([NAN, NAN]), np.array([]), np.array([[1.0, 2.0]])])
    @pytest.mark.parametrize("q", [None, 0.0, 0.3, 1.0])
    def test_edge_cases_match_backtesting(self, values: np.ndarray, q: float | None) -> None:
        try:
            expected = _quiet(lib.quantile, values, q)
        except Exception as exc:
            with pytest.raises(type(exc)):
                _quiet(tf.quantile, values, q)
        else:
            _same(_quiet(tf.quantile, values, q), expected)

    def test_real_series(self) -> None:
        close = GOOG.Close
        for window in (1, 2, 20, len(close)):
            part = close.iloc[-window:]
            for q in (None, 0.1, 0.5, 0.9):
                expected = _quiet(lib.quantile, part.to_numpy(), q)
                _same(_quiet(tf.quantile, part, q), expected)  # bt raises KeyError on a Series under pandas 3
                _same(_quiet(tf.quantile, _Array(part.to_numpy(), name="c"), q), expected)
                _same(_quiet(tf.quantile, part.tolist(), q), expected)

    @settings(max_examples=400, deadline=None)
    @given(float_arrays, st.one_of(st.none(), st.floats(0, 1), st.sampled_from([0.0, 0.5, 1.0])))
    def test_matches_backtesting(self, values: np.ndarray, q: float | None) -> None:
        try:
            expected = _quiet(lib.quantile, values, q)
        except Exception as exc:  # e.g. nanpercentile of an empty array
            with pytest.raises(type(exc)):
                _quiet(tf.quantile, values, q)
            return
        for label, ours_in, _ in _input_kinds(values):
            if label == "float32":
                continue
            got = _quiet(tf.quantile, ours_in, q)
            if isinstance(expected, float) and math.isnan(expected):
                assert math.isnan(got), label
            else:
                assert got == expected, label


# ---------------------------------------------------------------------------------------- random_ohlc_data


def _assert_ohlc_consistent(frame: pd.DataFrame) -> None:
    body_high = frame[["Open", "Close"]].max(axis=1)
    body_low = frame[["Open", "Close"]].min(axis=1)
    assert (frame.High >= body_high).all()
    assert (frame.Low <= body_low).all()
    assert (frame.High >= frame.Low).all()


class TestRandomOhlcData:
    @pytest.mark.parametrize("source", ["bt-GOOG", "GOOG", "EURUSD", "ETH-BTC"])
    def test_shape_index_and_consistency(self, source: str) -> None:
        example = GOOG if source == "bt-GOOG" else _ohlc_frame(source)
        _assert_ohlc_consistent(example)
        frames = tf.random_ohlc_data(example, random_state=np.random.default_rng(7))
        for _ in range(3):
            frame = next(frames)
            assert frame.shape == example.shape
            assert frame.index.equals(example.index)
            assert list(frame.columns) == list(example.columns)
            assert frame[["Open", "High", "Low", "Close"]].notna().all().all()
            _assert_ohlc_consistent(frame)
            # The bars are a permutation of the example's: same ranges, same volumes.
            np.testing.assert_allclose(
                np.sort((frame.High - frame.Low).to_numpy()), np.sort(example.High - example.Low)
            )
            assert sorted(frame.Volume) == sorted(example.Volume)
            # Each bar opens at the previous close plus the example's real gap at that position.
            gaps = (example.Open.shift(-1) - example.Close).to_numpy()[:-1]
            np.testing.assert_allclose((frame.Open.shift(-1) - frame.Close).to_numpy()[:-1], gaps, atol=1e-6)

    def test_identical_to_backtesting_with_int_seed(self) -> None:
        for seed in (0, 1, 42):
            ours, theirs = tf.random_ohlc_data(GOOG, random_state=seed), lib.random_ohlc_data(GOOG, random_state=seed)
            pd.testing.assert_frame_equal(next(ours), next(theirs))

    def test_deterministic_with_random_state(self) -> None:
        example = _ohlc_frame("AAPL")
        a = next(tf.random_ohlc_data(example, random_state=3))
        b = next(tf.random_ohlc_data(example, random_state=3))
        c = next(tf.random_ohlc_data(example, random_state=4))
        pd.testing.assert_frame_equal(a, b)
        assert not a.equals(c)
        frames = tf.random_ohlc_data(example, random_state=3)
        pd.testing.assert_frame_equal(next(frames), next(frames))  # an int seed repeats the frame, as in bt
        rng_frames = [tf.random_ohlc_data(example, random_state=np.random.default_rng(9)) for _ in range(2)]
        firsts, seconds = [next(g) for g in rng_frames], [next(g) for g in rng_frames]
        pd.testing.assert_frame_equal(firsts[0], firsts[1])
        pd.testing.assert_frame_equal(seconds[0], seconds[1])
        assert not firsts[0].equals(seconds[0])

    def test_same_random_stream_as_backtesting(self) -> None:
        np.random.seed(11)
        ours = tf.random_ohlc_data(GOOG)
        ours_frames = [next(ours) for _ in range(3)]
        np.random.seed(11)
        theirs = lib.random_ohlc_data(GOOG)
        for frame in ours_frames:
            pd.testing.assert_frame_equal(frame, next(theirs))
        ours = tf.random_ohlc_data(GOOG, random_state=np.random.RandomState(5))
        theirs = lib.random_ohlc_data(GOOG, random_state=np.random.RandomState(5))
        for _ in range(3):
            pd.testing.assert_frame_equal(next(ours), next(theirs))

    def test_frac_just_below_one_still_keeps_every_row(self) -> None:
        frac = 1 - 0.4 / len(GOOG)
        pd.testing.assert_frame_equal(
            next(tf.random_ohlc_data(GOOG, frac=frac, random_state=2)),
            next(lib.random_ohlc_data(GOOG, frac=frac, random_state=2)),
        )

    @pytest.mark.parametrize("frac", [0.5, 2.0, 1 + 0.4 / 2148])
    def test_frac_changing_rows_raises_clearly(self, frac: float) -> None:
        with pytest.raises(ValueError):  # Backtesting.py fails too, with a pandas error on next()
            next(lib.random_ohlc_data(GOOG, frac=frac, random_state=0))
        with pytest.raises(ValueError, match="pass frac=1"):
            tf.random_ohlc_data(GOOG, frac=frac)

    @pytest.mark.parametrize("bad", [GOOG.drop(columns="Low"), load_sample_frame("GOOG"), GOOG.Close])
    def test_needs_ohlc_columns(self, bad: Any) -> None:
        with pytest.raises(ValueError, match="'Open', 'High', 'Low', 'Close'"):
            tf.random_ohlc_data(bad)


# -------------------------------------------------------------------------------------------- aggregations


def test_aggregation_rules_match_backtesting() -> None:
    assert list(tf.OHLCV_AGG.items()) == list(lib.OHLCV_AGG.items())
    assert list(tf.TRADES_AGG.items()) == list(lib.TRADES_AGG.items())
    weekly = GOOG.resample("W", label="right").agg(tf.OHLCV_AGG).dropna()
    pd.testing.assert_frame_equal(weekly, GOOG.resample("W", label="right").agg(lib.OHLCV_AGG).dropna())
    assert (weekly.High >= weekly[["Open", "Close"]].max(axis=1)).all()
    assert set(tf.__all__) >= {"crossover", "cross", "barssince", "quantile", "random_ohlc_data", "plot_heatmaps"}


# ------------------------------------------------------------------------------------------- plot_heatmaps


def _figure_json(path: Path) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The traces and layout plotly wrote into the HTML's Plotly.newPlot(...) call."""
    text = path.read_text(encoding="utf-8")
    decoder = json.JSONDecoder()
    start = text.index("Plotly.newPlot(")
    start = text.index("[", text.index(",", start))
    data, end = decoder.raw_decode(text, start)
    layout, _ = decoder.raw_decode(text, text.index("{", end))
    return data, layout


def _z(trace: dict[str, Any]) -> np.ndarray:
    """A heatmap trace's z as floats (plotly 6 writes numpy arrays as base64 typed arrays)."""
    z = trace["z"]
    if isinstance(z, dict):
        shape = tuple(int(n) for n in str(z["shape"]).split(","))
        return np.frombuffer(base64.b64decode(z["bdata"]), dtype=z["dtype"]).reshape(shape).astype(float)
    return np.array(z, dtype=float)


def _grid(levels: dict[str, list[Any]], seed: int = 0, name: str = "Equity Final [$]") -> pd.Series:
    index = pd.MultiIndex.from_product(list(levels.values()), names=list(levels))
    values = np.random.default_rng(seed).normal(size=len(index))
    return pd.Series(values, index=index, name=name)


class TestPlotHeatmaps:
    def test_one_heatmap_per_parameter_pair(self, tmp_path: Path) -> None:
        heatmap = _grid({"n1": [5, 10, 20], "n2": [20, 50], "k": [1.5, 2.5, 3.5, 4.5]})
        heatmap.iloc[3] = np.nan
        path = tf.plot_heatmaps(heatmap, filename=str(tmp_path / "grid.html"))
        assert path == tmp_path / "grid.html" and path.is_absolute()
        text = path.read_text(encoding="utf-8")
        assert "<script src=" not in text  # plotly.js is inlined: the file works offline
        assert "plotly.js v" in text and len(text) > 1_000_000
        data, layout = _figure_json(path)
        assert [t["type"] for t in data] == ["heatmap"] * 3
        pairs = [("n1", "n2"), ("n1", "k"), ("n2", "k")]
        tables = [heatmap.groupby(level=[x, y]).max().unstack(level=0) for x, y in pairs]
        for trace, expected in zip(data, tables, strict=True):
            assert trace["x"] == [str(v) for v in expected.columns]
            assert trace["y"] == [str(v) for v in expected.index]
            np.testing.assert_allclose(_z(trace), expected.to_numpy())
            assert trace["coloraxis"] == "coloraxis"  # one shared colour scale
        # The shared scale spans the aggregated values of all heatmaps.
        assert layout["coloraxis"]["cmin"] == pytest.approx(min(np.nanmin(t.to_numpy()) for t in tables))
        assert layout["coloraxis"]["cmax"] == pytest.approx(heatmap.max())
        assert layout["xaxis"]["type"] == "category" and layout["xaxis"]["title"]["text"] == "n1"

    def test_agg_and_grid_layout(self, tmp_path: Path) -> None:
        heatmap = _grid({"a": [1, 2], "b": [3, 4, 5], "c": [6, 7], "d": [8, 9]}, seed=1)
        path = tf.plot_heatmaps(heatmap, np.mean, ncols=2, plot_width=800, filename=str(tmp_path / "mean"))
        assert path.name == "mean.html"  # .html appended, as Backtesting.py does
        data, layout = _figure_json(path)
        assert len(data) == 6
        expected = heatmap.groupby(level=["b", "d"]).mean().unstack(level=0)
        np.testing.assert_allclose(_z(data[4]), expected.to_numpy())
        assert {t["xaxis"] for t in data} == {"x", *(f"x{i}" for i in range(2, 7))}
        assert layout["width"] == 2 * 400 + 140 and layout["height"] == 3 * 400 + 120
        path = tf.plot_heatmaps(heatmap, "min", filename=str(tmp_path / "min.html"))
        data, _ = _figure_json(path)
        expected = heatmap.groupby(level=["a", "b"]).min().unstack(level=0)
        np.testing.assert_allclose(_z(data[0]), expected.to_numpy())

    def test_from_a_real_optimization(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        import backtesting
        from backtesting import Backtest, Strategy

        monkeypatch.setattr(backtesting, "Pool", ThreadPool)  # threads: the local strategy class need not pickle

        class SmaCross(Strategy):
            n1 = 10
            n2 = 30
            size = 0.5

            def init(self) -> None:
                close = pd.Series(self.data.Close)
                self.fast = self.I(lambda: close.rolling(self.n1).mean().to_numpy())
                self.slow = self.I(lambda: close.rolling(self.n2).mean().to_numpy())

            def next(self) -> None:
                if tf.crossover(self.fast, self.slow):
                    self.buy(size=self.size)
                elif tf.crossover(self.slow, self.fast):
                    self.position.close()

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            bt = Backtest(GOOG.iloc[:600], SmaCross, cash=10_000, finalize_trades=True)
            _, heatmap = bt.optimize(n1=[5, 10], n2=[20, 40, 60], size=[0.3, 0.6], return_heatmap=True)
        assert heatmap.index.names == ["n1", "n2", "size"]
        monkeypatch.chdir(tmp_path)
        opened: list[str] = []
        monkeypatch.setattr(tf.webbrowser, "open", opened.append)
        path = tf.plot_heatmaps(heatmap, open_browser=True)
        assert path == tmp_path / "heatmaps.html"  # default file name in the working directory
        assert opened == [path.as_uri()]
        data, _ = _figure_json(path)
        assert len(data) == 3  # 3 parameters -> 3 pairs

    @pytest.mark.parametrize(
        ("bad", "message"),
        [
            (pd.Series([1.0, 2.0], index=["a", "b"]), "MultiIndex.*return_heatmap=True"),
            (pd.DataFrame({"x": [1.0]}), "MultiIndex.*return_heatmap=True"),
            (pd.Series([1.0, 2.0], index=pd.MultiIndex.from_arrays([[1, 2]], names=["n"])), "two"),
        ],
    )
    def test_bad_input_raises(self, tmp_path: Path, bad: Any, message: str) -> None:
        with pytest.raises(ValueError, match=message):
            tf.plot_heatmaps(bad, filename=str(tmp_path / "x.html"))
        if isinstance(bad, pd.Series):  # Backtesting.py rejects the same inputs
            with pytest.raises(ValueError):
                lib.plot_heatmaps(bad, filename=str(tmp_path / "bt.html"), open_browser=False)
        assert not (tmp_path / "x.html").exists()

    def test_bad_layout_raises(self, tmp_path: Path) -> None:
        heatmap = _grid({"a": [1, 2], "b": [3, 4]})
        with pytest.raises(ValueError, match="ncols"):
            tf.plot_heatmaps(heatmap, ncols=0, filename=str(tmp_path / "x.html"))
