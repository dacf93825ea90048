"""minitrade-style data for multi-asset strategies: a 2-level column DataFrame (symbol, field), revealed bar by bar.

``self.data.Close`` is a 2-D array (bars x symbols) whose ``.df`` is a DataFrame with one column per symbol;
``self.data["AAPL"]`` is that symbol's single-asset data (``.Close[-1]``, ``.df``); ``self.data.df`` the 2-level
frame so far; ``self.data.ta.roc(10)`` TA-Lib per symbol.
"""

from __future__ import annotations

from typing import Any, cast

import numpy as np
import pandas as pd

from tradeforge.compat._data import _Array, _Data

FIELDS = ("Open", "High", "Low", "Close", "Volume")


class _MultiData:
    def __init__(self, df: pd.DataFrame) -> None:
        self.__df = df
        self.__len = len(df)
        self.__symbols = [str(s) for s in dict.fromkeys(df.columns.get_level_values(0))]
        index = df.index.copy()
        self.__index = index
        self.__arrays: dict[str, _Array] = {}
        fields = dict.fromkeys(str(f) for f in df.columns.get_level_values(1))
        single = len(self.__symbols) == 1  # one asset: 1-D fields and its own frame, as minitrade gives them
        for field in fields:
            frame = df.xs(field, axis=1, level=1)
            if single:
                values = np.ascontiguousarray(frame.to_numpy(dtype=float)[:, 0])
                self.__arrays[field] = _Array(values, name=field, index=index, series=self.__symbols[0])
                continue
            self.__arrays[field] = _Array(
                frame.to_numpy(dtype=float), name=field, index=index, columns=[str(c) for c in frame.columns]
            )
        self.__per_symbol = {s: _Data(cast(pd.DataFrame, df[s])) for s in self.__symbols}
        self.__cache: dict[str, Any] = {}

    # ------------------------------------------------------------- revealing
    def _set_length(self, length: int) -> None:
        self.__len = length
        self.__cache.clear()
        for data in self.__per_symbol.values():
            data._set_length(length)

    def _update(self) -> None:
        for data in self.__per_symbol.values():
            data._update()

    def __len__(self) -> int:
        return self.__len

    # ---------------------------------------------------------------- access
    @property
    def symbols(self) -> list[str]:
        return list(self.__symbols)

    tickers = symbols

    @property
    def the_ticker(self) -> str:
        """The only asset (minitrade); a ValueError when there are several."""
        if len(self.__symbols) == 1:
            return self.__symbols[0]
        raise ValueError("Ticker must explicitly specified for multi-asset backtesting")

    @property
    def now(self) -> Any:
        """The time of the current (latest revealed) bar."""
        return self.__index[self.__len - 1]

    def __getitem__(self, key: Any) -> Any:
        """data["AAPL"]: that asset's data (``.Close``, ``.df``...); data["AAPL", "Close"]: one asset's field (as
        minitrade); data["Close"]: the field for every asset (bars x assets); data[:]: the whole frame so far."""
        if isinstance(key, tuple) and len(key) == 2:
            symbol, field = key
            if symbol not in self.__per_symbol:
                raise KeyError(f"unknown asset {symbol!r}; this data has {self.__symbols}")
            try:
                return self.__per_symbol[symbol][field]
            except KeyError:
                raise KeyError(f"data[{symbol!r}, {field!r}]: {symbol} has no field {field!r}") from None
        if isinstance(key, slice) and key == slice(None):  # minitrade: every column so far as one 2-D array
            df = self.df
            return _Array(df.to_numpy(), name="data", index=df.index, rows=True, columns=list(df.columns))
        if key in self.__per_symbol:
            return self.__per_symbol[key]
        return self.__get(key)

    def __getattr__(self, item: str) -> Any:
        if item.startswith("_"):
            raise AttributeError(item)
        try:
            return self.__get(item)
        except KeyError:
            raise AttributeError(
                f"data has no field {item!r}; fields: {list(self.__arrays)}; symbols (data['X']): {self.__symbols}"
            ) from None

    def __get(self, field: str) -> Any:
        arr = self.__cache.get(field)
        if arr is None:
            arr = self.__cache[field] = self.__arrays[field][: self.__len]
        return arr

    @property
    def Open(self) -> _Array:
        return self.__get("Open")  # type: ignore[no-any-return]

    @property
    def High(self) -> _Array:
        return self.__get("High")  # type: ignore[no-any-return]

    @property
    def Low(self) -> _Array:
        return self.__get("Low")  # type: ignore[no-any-return]

    @property
    def Close(self) -> _Array:
        return self.__get("Close")  # type: ignore[no-any-return]

    @property
    def Volume(self) -> _Array:
        return self.__get("Volume")  # type: ignore[no-any-return]

    @property
    def index(self) -> pd.Index:
        return self.__index[: self.__len]

    @property
    def df(self) -> pd.DataFrame:
        """The data so far: (symbol, field) columns, or the asset's own OHLCV columns when there is one asset."""
        df = cast(pd.DataFrame, self.__df[self.__symbols[0]]) if len(self.__symbols) == 1 else self.__df
        return df.iloc[: self.__len] if self.__len < len(df) else df

    @property
    def ta(self) -> Any:
        """TA-Lib per symbol over the data so far: ``self.data.ta.roc(10)`` -> one column per symbol."""
        return self.df.ta

    @property
    def pip(self) -> float:
        return min(d.pip for d in self.__per_symbol.values())

    def __repr__(self) -> str:
        i = self.__len - 1
        close = self.__arrays["Close"]
        last = {s: float(close[i] if close.ndim == 1 else close[i, k]) for k, s in enumerate(self.__symbols)}
        return f"<MultiData i={i} ({self.__index[i]}) Close={last}>"


def is_multi_asset(df: pd.DataFrame) -> bool:
    return isinstance(df.columns, pd.MultiIndex) and df.columns.nlevels == 2


_FIELD_NAMES = frozenset({"open", "high", "low", "close", "adj close", "volume"})


def symbols_first(df: pd.DataFrame) -> pd.DataFrame:
    """Columns as (field, ticker) pairs, the layout yfinance.download gives, turned into (symbol, field) pairs,
    or into the plain OHLCV columns of a single ticker. Any other frame is returned as it is."""
    if not is_multi_asset(df):
        return df
    level0 = {str(v).lower() for v in df.columns.get_level_values(0)}
    level1 = {str(v).lower() for v in df.columns.get_level_values(1)}
    if not (level0 <= _FIELD_NAMES and {"open", "high", "low", "close"} <= level0) or level1 & _FIELD_NAMES:
        return df
    tickers = list(dict.fromkeys(df.columns.get_level_values(1)))
    parts = {ticker: cast(pd.DataFrame, df.xs(ticker, axis=1, level=1)) for ticker in tickers}
    if len(tickers) == 1:
        return parts[tickers[0]]
    return cast(pd.DataFrame, pd.concat(parts, axis=1))


def normalise_multi(df: pd.DataFrame) -> pd.DataFrame:
    """Validate a (symbol, field) frame; add missing Volume columns as NaN. Raises ValueError naming what is wrong."""
    from tradeforge.compat.errors import CompatValueError

    symbols = [str(s) for s in dict.fromkeys(df.columns.get_level_values(0))]
    if not symbols:
        raise CompatValueError("multi-asset data has no symbols: columns must be (symbol, field) pairs")
    parts = {}
    for symbol in symbols:
        sub = df[symbol].copy()
        missing = [c for c in ("Open", "High", "Low", "Close") if c not in sub.columns]
        if missing:
            raise CompatValueError(
                f"multi-asset data: symbol {symbol!r} lacks {missing}; each symbol needs Open, High, Low, Close "
                f"(and optionally Volume) columns, it has {list(sub.columns)}"
            )
        if "Volume" not in sub.columns:
            sub["Volume"] = np.nan
        nan_rows = cast(pd.DataFrame, sub[["Open", "High", "Low", "Close"]]).isnull().any(axis="columns")
        if nan_rows.any():
            first = sub.index[int(np.argmax(nan_rows.to_numpy()))]
            raise CompatValueError(
                f"multi-asset data: {symbol} has missing OHLC values in {int(nan_rows.sum())} rows (first at "
                f"{first}); the symbols must share one index: drop or fill those rows (df.dropna(), df.ffill())"
            )
        parts[symbol] = sub[list(FIELDS) + [c for c in sub.columns if c not in FIELDS]]
    return pd.concat(parts, axis=1)


def multi_asset_frame(frames: dict[str, pd.DataFrame], *, fill_gaps: bool = True) -> pd.DataFrame:
    """One (symbol, field) DataFrame from per-symbol OHLCV frames.

    The index is the union of the symbols' times from the first time every symbol has a bar. A symbol without a
    bar at some time (a gap in its data) gets a flat bar at its previous close with zero volume when fill_gaps,
    which is what a market with no trades shows; with fill_gaps=False such rows are an error."""
    from tradeforge.compat.errors import CompatValueError

    if not frames:
        raise CompatValueError("multi_asset_frame needs at least one symbol's frame")
    parts = {}
    for symbol, frame in frames.items():
        renamed = frame.rename(columns=lambda c: str(c).capitalize())
        missing = [c for c in ("Open", "High", "Low", "Close") if c not in renamed.columns]
        if missing:
            raise CompatValueError(f"{symbol}: missing columns {missing}; it has {list(frame.columns)}")
        if "Volume" not in renamed.columns:
            renamed["Volume"] = np.nan
        parts[symbol] = renamed[list(FIELDS)]
    start = max(p.index[0] for p in parts.values())
    index = parts[next(iter(parts))].index
    for p in parts.values():
        index = index.union(p.index)
    index = index[index >= start]
    out = {}
    for symbol, p in parts.items():
        aligned = p.reindex(index)
        gaps = aligned["Close"].isna()
        if gaps.any():
            if not fill_gaps:
                raise CompatValueError(
                    f"{symbol} has no bar at {int(gaps.sum())} of the {len(index)} times (first {index[gaps][0]}); "
                    "pass fill_gaps=True to hold its last close over those bars"
                )
            close = aligned["Close"].ffill()
            for col in ("Open", "High", "Low"):
                aligned[col] = aligned[col].fillna(close)
            aligned["Close"] = close
            aligned["Volume"] = aligned["Volume"].fillna(0.0)
        out[symbol] = aligned
    return pd.concat(out, axis=1)


def load_samples_frame(names: list[str], *, fill_gaps: bool = True) -> pd.DataFrame:
    """Bundled samples (e.g. ["AAPL", "IBM", "KO", "MSFT"]) as one multi-asset (symbol, field) DataFrame."""
    from tradeforge.data import load_sample_frame

    return multi_asset_frame({name: load_sample_frame(name) for name in names}, fill_gaps=fill_gaps)
