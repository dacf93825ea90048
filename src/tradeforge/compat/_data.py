"""Backtesting.py-style data access: arrays that know their name and index, revealed one bar at a time."""

from __future__ import annotations

from typing import Any, cast

import numpy as np
import pandas as pd


def _rebuild(root: type[_Array], values: np.ndarray, name: Any, opts: dict[str, Any]) -> _Array:
    """Unpickle an _Array (its per-array class is made anew: it cannot be imported by name)."""
    return root(values, name=name, **opts)


class _Array(np.ndarray):
    """An ndarray with a ``name``, options and the data's index; ``.s`` and ``.df`` give pandas views.

    Each array built here gets its own subclass holding its name and options as class attributes, so every view
    of it (one per indicator per bar, as the strategy sees the data grow) has them without a Python-level
    ``__array_finalize__`` call: numpy makes such views at C speed. Setting ``name`` on any of them renames the
    array and all its views.
    """

    _root: type[_Array]
    _name: Any = ""
    _opts: dict[str, Any] = {}  # noqa: RUF012 - per-array classes replace it, nothing mutates it in place

    def __new__(cls, array: Any, *, name: Any = None, **opts: Any) -> _Array:
        root = getattr(cls, "_root", cls)  # _Array or _Indicator (a user's subclass of them)
        label = name if name is not None else getattr(array, "name", "")
        own = type(
            root.__name__, (root,), {"_root": root, "_name": label, "_opts": opts, "__module__": root.__module__}
        )
        return cast(_Array, np.asarray(array).view(own))

    @property
    def name(self) -> Any:
        return type(self)._name

    @name.setter
    def name(self, value: Any) -> None:
        cls = type(self)
        if "_root" not in cls.__dict__:  # made by .view(_Array): give it a class of its own before renaming
            self.__class__ = type(
                cls.__name__, (cls,), {"_root": cls, "_opts": cls._opts, "__module__": cls.__module__}
            )
        type(self)._name = value

    def __reduce__(self) -> Any:  # pickling (worker processes): the values, name and options
        return _rebuild, (getattr(type(self), "_root", type(self)), np.asarray(self), self.name, self._opts)

    def __bool__(self) -> bool:
        try:
            return bool(self[-1])
        except IndexError:
            return super().__bool__()

    def __float__(self) -> float:
        try:
            return float(self[-1])
        except IndexError:
            return super().__float__()

    def to_series(self) -> pd.Series:
        if self._opts.get("rows"):  # bars x columns: the first column
            values = np.asarray(self)
            return pd.Series(values[:, 0], index=self._opts["index"][: values.shape[0]], name=self.name)
        values = np.atleast_2d(self)
        index = self._opts["index"][: values.shape[1]]
        return pd.Series(values[0], index=index, name=self.name)

    @property
    def s(self) -> pd.Series:
        """This array as a pandas Series on the data's index (first row of a 2-D indicator)."""
        return self.to_series()

    @property
    def df(self) -> pd.DataFrame:
        """This array as a DataFrame on the data's index (one column per row of a 2-D indicator); with
        multi-asset (minitrade) data a 1-D array gives a Series, as minitrade's .df does."""
        series_name = self._opts.get("series")
        if series_name is not None and np.ndim(self) == 1:
            return self.to_series().rename(series_name)  # type: ignore[return-value]
        values = np.atleast_2d(np.asarray(self))
        columns = self._opts.get("columns")
        if self._opts.get("rows") and np.ndim(self) == 2:  # a multi-asset indicator: bars x columns
            names = columns if columns is not None and len(columns) == values.shape[1] else None
            index = self._opts["index"][: values.shape[0]]
            return pd.DataFrame(values, index=index, columns=names or [self.name] * values.shape[1])
        if columns is not None and values.shape[0] == len(columns):  # one row per asset (or per output)
            index = self._opts["index"][: values.shape[1]]
            return pd.DataFrame(values.T, index=index, columns=columns)
        if columns is not None and values.shape[-1] == len(columns):  # data fields: bars x assets
            index = self._opts["index"][: values.shape[0]]
            return pd.DataFrame(values, index=index, columns=columns)
        index = self._opts["index"][: values.shape[1]]
        return pd.DataFrame(values.T, index=index, columns=[self.name] * len(values))


class _Indicator(_Array):
    """An array declared with Strategy.I()."""


class _Data:
    """The strategy's data: ``data.Close``, ``data.index``, ``data.df``, any other column, ``data.pip``.

    Inside ``init()`` the arrays are full length; inside ``next()`` they end at the current bar.
    """

    def __init__(self, df: pd.DataFrame) -> None:
        self.__df = df
        self.__len = len(df)
        self.__pip: float | None = None
        self.__cache: dict[str, _Array] = {}
        self.__arrays: dict[str, Any] = {}
        self._update()

    def __getitem__(self, item: str) -> Any:
        return self.__get_array(item)

    def __getattr__(self, item: str) -> Any:
        try:
            return self.__get_array(item)
        except KeyError:
            raise AttributeError(f"data has no column {item!r}; its columns are {list(self.__df.columns)}") from None

    def _set_length(self, length: int) -> None:
        self.__len = length
        self.__cache.clear()

    def _update(self) -> None:
        index = self.__df.index.copy()
        self.__arrays = {str(col): _Array(arr, index=index) for col, arr in self.__df.items()}
        self.__arrays["__index"] = index  # the index is sliced like the arrays

    def __repr__(self) -> str:
        i = min(self.__len, len(self.__df)) - 1
        index = self.__arrays["__index"][i]
        items = ", ".join(f"{k}={v}" for k, v in self.__df.iloc[i].items())
        return f"<Data i={i} ({index}) {items}>"

    def __len__(self) -> int:
        return self.__len

    @property
    def df(self) -> pd.DataFrame:
        return self.__df.iloc[: self.__len] if self.__len < len(self.__df) else self.__df

    @property
    def now(self) -> Any:
        """The time of the current (latest revealed) bar (minitrade's data.now)."""
        return self.__arrays["__index"][self.__len - 1]

    @property
    def pip(self) -> float:
        if self.__pip is None:
            close = self.__arrays["Close"].astype(str)
            decimals = max((len(s.partition(".")[-1]) for s in close), default=0)
            self.__pip = float(10 ** -np.median([decimals]))
        return self.__pip

    def __get_array(self, key: str) -> Any:
        arr = self.__cache.get(key)
        if arr is None:
            arr = self.__cache[key] = self.__arrays[key][: self.__len]
        return arr

    @property
    def Open(self) -> _Array:
        return self.__get_array("Open")  # type: ignore[no-any-return]

    @property
    def High(self) -> _Array:
        return self.__get_array("High")  # type: ignore[no-any-return]

    @property
    def Low(self) -> _Array:
        return self.__get_array("Low")  # type: ignore[no-any-return]

    @property
    def Close(self) -> _Array:
        return self.__get_array("Close")  # type: ignore[no-any-return]

    @property
    def Volume(self) -> _Array:
        return self.__get_array("Volume")  # type: ignore[no-any-return]

    @property
    def index(self) -> pd.Index:
        return self.__get_array("__index")  # type: ignore[no-any-return]

    @property
    def ta(self) -> Any:
        """TA-Lib indicators over the data revealed so far: ``self.data.ta.sma(10)``."""
        return self.df.ta

    # pickling (optimize in worker processes)
    def __getstate__(self) -> dict[str, Any]:
        return self.__dict__

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__ = state
