"""A ``.ta`` accessor on pandas DataFrame and Series, generated from TA-Lib's own function table.

Every function TA-Lib knows becomes a lowercase method: ``df.ta.sma(10)``, ``df.ta.macd(12, 26, 9)``,
``df.ta.atr(14)``, ``df.ta.cdlengulfing()``, ``close.ta.rsi(14)``. Nothing here is written per indicator: the
methods, their signatures and docstrings are built from ``talib.get_functions()`` and
``talib.abstract.Function(name).info`` (input names, parameters with defaults, output names).

* Positional arguments are the function's parameters in TA-Lib's order, keywords use TA-Lib's parameter names.
* Inputs come from the columns open/high/low/close/volume in any case (``Close``, ``close``, ``CLOSE``). The
  input keywords of TA-Lib's abstract API pick other columns (``df.ta.sma(10, price="high")``,
  ``df.ta.atr(prices=["h", "l", "c"])``) or take an array-like aligned to the index (``periods=`` of MAVP).
  On a Series the series itself is the single price input.
* One output -> a float64 Series named like ``SMA_10``; several -> a float64 DataFrame (MACD -> macd,
  macdsignal, macdhist). Both keep the input's index.
* Columns with two levels (symbol, field) are computed per symbol: one output -> one column per symbol,
  several -> 2-level columns (symbol, output).

``register()`` installs the accessor on ``pd.DataFrame`` and ``pd.Series``; it is idempotent and nothing is
registered at import time.
"""

from __future__ import annotations

import difflib
import inspect
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any, cast

import numpy as np
import numpy.typing as npt
import pandas as pd
import talib
from talib import abstract

__all__ = ["ACCESSOR_NAME", "TAAccessor", "TAFunction", "register", "ta_functions"]

ACCESSOR_NAME = "ta"

Result = pd.Series | pd.DataFrame
FloatArray = npt.NDArray[np.float64]
InputValue = Any  # a column name, or an array-like aligned to the index; a list/tuple of those for "prices"


@dataclass(frozen=True)
class TAFunction:
    """One TA-Lib function as its abstract info describes it."""

    name: str  # TA-Lib's name, e.g. "SMA"
    group: str
    display_name: str
    inputs: tuple[tuple[str, str | tuple[str, ...]], ...]  # input keyword -> default column(s)
    parameters: tuple[tuple[str, Any], ...]  # parameter -> default, in TA-Lib's order
    outputs: tuple[str, ...]

    @property
    def method_name(self) -> str:
        return self.name.lower()

    @classmethod
    def from_info(cls, info: Mapping[str, Any]) -> TAFunction:
        inputs = tuple(
            (key, value if isinstance(value, str) else tuple(value)) for key, value in info["input_names"].items()
        )
        return cls(
            name=info["name"],
            group=info["group"],
            display_name=info["display_name"],
            inputs=inputs,
            parameters=tuple(info["parameters"].items()),
            outputs=tuple(info["output_names"]),
        )


@cache
def ta_functions() -> dict[str, TAFunction]:
    """Every TA-Lib function by its lowercase method name, read from TA-Lib's function table."""
    lib: Any = talib  # TA-Lib's bindings are untyped
    info: Any = abstract
    return {name.lower(): TAFunction.from_info(info.Function(name).info) for name in lib.get_functions()}


def _label(fn: TAFunction, params: Mapping[str, Any]) -> str:
    """``SMA_10``, ``SAR_0.02_0.2``, ``CDLENGULFING``: the name of a one-output result."""

    def text(value: Any) -> str:
        if isinstance(value, float) and value.is_integer():
            return str(int(value))
        return f"{value:g}" if isinstance(value, float) else str(value)

    return "_".join([fn.name, *(text(value) for value in params.values())])


def _signature(fn: TAFunction) -> inspect.Signature:
    """self, then TA-Lib's parameters (positional or keyword), then the input keywords (keyword only)."""
    kind = inspect.Parameter
    params = [kind("self", kind.POSITIONAL_OR_KEYWORD)]
    params += [kind(name, kind.POSITIONAL_OR_KEYWORD, default=default) for name, default in fn.parameters]
    params += [kind(name, kind.KEYWORD_ONLY, default=default) for name, default in fn.inputs]
    return inspect.Signature(params, return_annotation=pd.Series if len(fn.outputs) == 1 else pd.DataFrame)


def _call_text(fn: TAFunction, signature: inspect.Signature) -> str:
    """``sma(timeperiod=30, *, price='close')``: how to call the method, without self and the return type."""
    parameters = list(signature.parameters.values())[1:]
    return f"{fn.method_name}{signature.replace(parameters=parameters, return_annotation=inspect.Signature.empty)}"


def _docstring(fn: TAFunction, signature: inspect.Signature) -> str:
    lines = [f"{fn.name}: {fn.display_name} ({fn.group}).", "", f"Call as obj.ta.{_call_text(fn, signature)}", ""]
    lines.append("Inputs (a column name in any case, or an array-like aligned to the index):")
    lines += [f"    {key}: {default if isinstance(default, str) else list(default)}" for key, default in fn.inputs]
    lines.append("Parameters (positional in this order, or by keyword):")
    lines += [f"    {name}: default {default!r}" for name, default in fn.parameters] or ["    (none)"]
    lines.append("Outputs:")
    lines += [f"    {name}" for name in fn.outputs]
    lines.append("")
    if len(fn.outputs) == 1:
        lines.append(f"Returns a float64 Series named like {_label(fn, dict(fn.parameters))!r} with the input's index;")
        lines.append("on (symbol, field) columns a DataFrame with one column per symbol.")
    else:
        lines.append(f"Returns a float64 DataFrame with columns {list(fn.outputs)} and the input's index;")
        lines.append("on (symbol, field) columns a DataFrame with 2-level columns (symbol, output).")
    return "\n".join(lines)


def _make_method(fn: TAFunction) -> Callable[..., Result]:
    signature = _signature(fn)

    def method(self: TAAccessor, *args: Any, **kwargs: Any) -> Result:
        try:
            bound = signature.bind(self, *args, **kwargs)
        except TypeError as exc:
            raise TypeError(f"{fn.name}: {exc}; call it as {_call_text(fn, signature)}") from exc
        given = set(bound.arguments)
        bound.apply_defaults()
        params = {name: bound.arguments[name] for name, _ in fn.parameters}
        inputs = {key: (bound.arguments[key], key in given) for key, _ in fn.inputs}
        return self._compute(fn, params, inputs)

    method.__name__ = fn.name
    method.__qualname__ = f"TAAccessor.{fn.method_name}"
    method.__doc__ = _docstring(fn, signature)
    method.__signature__ = signature  # type: ignore[attr-defined]
    return method


_installed = False


def _install_methods() -> bool:
    """Put one method per TA-Lib function on TAAccessor; True if this call installed them."""
    global _installed
    if _installed:
        return False
    for method_name, fn in ta_functions().items():
        setattr(TAAccessor, method_name, _make_method(fn))
    _installed = True
    return True


def _to_float(values: Any, label: str, fn: TAFunction) -> FloatArray:
    try:
        if isinstance(values, pd.Series):
            array = values.to_numpy(dtype=np.float64, na_value=np.nan)
        else:
            array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{fn.name}: input {label} is not numeric: {exc}") from exc
    return np.ascontiguousarray(array, dtype=np.float64)


def _find_column(frame: pd.DataFrame, name: str) -> Any | None:
    """The column called ``name``: an exact match, else the only case-insensitive one; None if none."""
    if name in frame.columns:
        return name
    matches = [column for column in frame.columns if str(column).lower() == name.lower()]
    if len(matches) > 1:
        raise ValueError(f"column {name!r} is ambiguous: the DataFrame has {matches}")
    return matches[0] if matches else None


class TAAccessor:
    """``obj.ta``: TA-Lib functions as lowercase methods on a DataFrame or Series (see the module docstring)."""

    def __init__(self, pandas_obj: pd.Series | pd.DataFrame) -> None:
        self._obj = pandas_obj

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        if _install_methods():
            return getattr(self, name)
        names = list(ta_functions())
        matches = difflib.get_close_matches(name.lower(), names, n=5, cutoff=0.6)
        hint = f"; did you mean {', '.join(matches)}?" if matches else ""
        raise AttributeError(
            f"{type(self._obj).__name__}.ta has no TA-Lib function {name!r}{hint} "
            f"(dir(obj.ta) lists all {len(names)} functions, in lowercase)"
        )

    def __dir__(self) -> list[str]:
        _install_methods()
        return sorted(set(super().__dir__()))

    def apply(self, func: Any, *args: Any, **kwargs: Any) -> Any:
        """func(frame, *args, **kwargs) on each symbol's frame of a 2-level (symbol, field) DataFrame, the
        results side by side under their symbol (minitrade's ``df.ta.apply``); on other objects, func(obj)."""
        obj = self._obj
        if isinstance(obj, pd.DataFrame) and isinstance(obj.columns, pd.MultiIndex) and obj.columns.nlevels == 2:
            symbols = dict.fromkeys(obj.columns.get_level_values(0))
            return pd.concat({s: func(obj[s], *args, **kwargs) for s in symbols}, axis=1)
        return func(obj, *args, **kwargs)

    def join(self, other: pd.DataFrame, lsuffix: str = "", rsuffix: str = "") -> pd.DataFrame:
        """DataFrame.join per symbol of two 2-level frames (minitrade's ``df.ta.join``); a plain join otherwise."""
        obj = self._obj
        if not isinstance(obj, pd.DataFrame):
            raise TypeError(f".ta.join needs a DataFrame, got {type(obj).__name__}")
        if isinstance(obj.columns, pd.MultiIndex) and obj.columns.nlevels == 2:
            symbols = dict.fromkeys(obj.columns.get_level_values(0))
            parts = {s: cast(pd.DataFrame, obj[s]).join(other[s], lsuffix=lsuffix, rsuffix=rsuffix) for s in symbols}
            return cast(pd.DataFrame, pd.concat(parts, axis=1))
        joined: pd.DataFrame = obj.join(other, lsuffix=lsuffix, rsuffix=rsuffix)
        return joined

    def _compute(self, fn: TAFunction, params: dict[str, Any], inputs: dict[str, tuple[Any, bool]]) -> Result:
        obj = self._obj
        if not (isinstance(obj, pd.DataFrame) and isinstance(obj.columns, pd.MultiIndex)):
            return _run(fn, _input_arrays(fn, obj, inputs, ""), params, obj.index)
        if obj.columns.nlevels != 2:
            raise ValueError(
                f"{fn.name}: columns with {obj.columns.nlevels} levels are not supported; "
                "use one level (fields) or two levels (symbol, field)"
            )
        parts: dict[Any, Result] = {}
        for symbol in dict.fromkeys(obj.columns.get_level_values(0)):
            frame = obj.xs(symbol, axis=1, level=0)
            parts[symbol] = _run(fn, _input_arrays(fn, frame, inputs, f" for symbol {symbol!r}"), params, obj.index)
        if len(fn.outputs) == 1:
            result = pd.DataFrame({symbol: part.to_numpy() for symbol, part in parts.items()}, index=obj.index)
            result.columns.name = obj.columns.names[0]
            return result
        data = {(symbol, name): part[name].to_numpy() for symbol, part in parts.items() for name in fn.outputs}
        result = pd.DataFrame(data, index=obj.index)
        result.columns.names = [obj.columns.names[0], None]
        return result


def _input_arrays(
    fn: TAFunction, obj: pd.Series | pd.DataFrame, inputs: dict[str, tuple[Any, bool]], where: str
) -> list[FloatArray]:
    """The arrays to pass to TA-Lib, in its input order; ValueError naming every column that is missing."""
    is_series = isinstance(obj, pd.Series)
    defaults = dict(fn.inputs)
    wanted: list[tuple[str, Any]] = []  # (label, column name or array-like)
    for key, (value, given) in inputs.items():
        single = isinstance(defaults[key], str)  # price, price0, periods: one column or array-like
        items = list(value) if isinstance(value, list | tuple) and not single else [value]
        expected = 1 if single else len(defaults[key])
        if len(items) != expected:
            raise ValueError(f"{fn.name}: {key}= needs {expected} item(s), got {len(items)}: {value!r}")
        if is_series and key == "price" and not given:
            items = [obj]
        elif is_series and key == "price" and isinstance(value, str):
            raise ValueError(
                f"{fn.name}: price={value!r} names a column, but .ta was called on a Series, which has no "
                "columns; the Series itself is the price, or call it on a DataFrame"
            )
        wanted += [(f"{key}={item!r}" if isinstance(item, str) else key, item) for item in items]

    names = [item for _, item in wanted if isinstance(item, str)]
    if is_series and names:
        raise ValueError(
            f"{fn.name} needs the column(s) {names}{where}, but .ta was called on a Series; "
            f"call it on a DataFrame with those columns, e.g. df.ta.{fn.method_name}(...)"
        )
    columns: dict[str, Any] = {}
    if isinstance(obj, pd.DataFrame):
        columns = {name: _find_column(obj, name) for name in names}
        missing = [name for name, column in columns.items() if column is None]
        if missing:
            raise ValueError(
                f"{fn.name} needs the column(s) {missing}{where} (matched in any case), "
                f"but the DataFrame has columns {[str(column) for column in obj.columns]}"
            )

    arrays = []
    for label, item in wanted:
        if isinstance(item, str):
            values: Any = obj[columns[item]]
        elif isinstance(item, pd.Series):
            values = item if item.index.equals(obj.index) else item.reindex(obj.index)
        else:
            values = np.asarray(item)
            if values.ndim != 1 or len(values) != len(obj):
                raise ValueError(
                    f"{fn.name}: input {label} has shape {values.shape}, expected ({len(obj)},) like the index"
                )
        if isinstance(values, pd.DataFrame):
            raise ValueError(f"{fn.name}: input {label}{where} matches several columns; column names must be unique")
        arrays.append(_to_float(values, label, fn))
    return arrays


def _run(fn: TAFunction, arrays: Sequence[FloatArray], params: dict[str, Any], index: pd.Index) -> Result:
    """Call TA-Lib's function API and wrap its output; a TA-Lib failure becomes a ValueError naming the call."""
    try:
        raw = getattr(talib, fn.name)(*arrays, **params)
    except Exception as exc:
        given = ", ".join(f"{name}={value!r}" for name, value in params.items())
        raise ValueError(f"TA-Lib {fn.name}({given}) failed on {len(index)} rows: {exc}") from exc
    outputs = raw if isinstance(raw, tuple | list) else (raw,)
    if len(fn.outputs) == 1:
        return pd.Series(np.asarray(outputs[0], dtype=np.float64), index=index, name=_label(fn, params))
    data = {name: np.asarray(values, dtype=np.float64) for name, values in zip(fn.outputs, outputs, strict=True)}
    return pd.DataFrame(data, index=index)


def _registered_class(cls: type) -> Any:
    return getattr(cls.__dict__.get(ACCESSOR_NAME), "_accessor", None)


def register() -> None:
    """Install ``.ta`` on ``pd.DataFrame`` and ``pd.Series``. Calling it again does nothing (and never warns)."""
    _install_methods()
    registrars = (
        (pd.DataFrame, pd.api.extensions.register_dataframe_accessor),
        (pd.Series, pd.api.extensions.register_series_accessor),
    )
    for cls, registrar in registrars:
        current = _registered_class(cls)
        if current is TAAccessor:
            continue
        ours = isinstance(current, type) and (current.__module__, current.__qualname__) == (__name__, "TAAccessor")
        with warnings.catch_warnings():
            if ours:  # this module was reloaded: replace our own older accessor silently
                warnings.simplefilter("ignore", UserWarning)
            registrar(ACCESSOR_NAME)(TAAccessor)
