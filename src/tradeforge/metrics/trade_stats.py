"""Statistics over closed trades (Backtesting.py 0.6.6's trade keys plus our win/loss averages).

The trades' fields are read once into numpy arrays (``TradeArrays``); profit, return, duration, exposure, fees
and turnover are then computed with the same floating-point operations in the same order as ``Trade.pnl``,
``Trade.return_pct``, ``Trade.fees`` and the per-trade loops they replace, so every value is bit-identical.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from operator import attrgetter

import numpy as np
import numpy.typing as npt

from tradeforge.core.errors import DataError
from tradeforge.core.trades import Trade
from tradeforge.metrics.periods import Duration, geometric_mean, mean_ns, to_duration

NAN = float("nan")
FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

_FLOAT_FIELDS = ("size", "entry_price", "exit_price", "multiplier", "entry_fee", "exit_fee")
_INT_FIELDS = ("entry_bar", "exit_bar", "entry_ts", "exit_ts")
_RECORD = np.dtype([(name, np.float64) for name in _FLOAT_FIELDS] + [(name, np.int64) for name in _INT_FIELDS])
_GET_FIELDS = attrgetter(*_FLOAT_FIELDS, *_INT_FIELDS)


def _mean(values: FloatArray) -> float:
    """``np.mean`` of a 1-D float64 array (its sum divided by its length); NaN when empty."""
    return float(np.add.reduce(values) / len(values)) if len(values) else NAN


def _std(values: FloatArray) -> float:
    """Sample standard deviation (ddof=1) like pandas: NaN with fewer than two values."""
    return float(np.std(values, ddof=1)) if len(values) > 1 else NAN


def nan_if_zero(value: float) -> float:
    """Python's ``value or nan``: 0 becomes NaN (Backtesting.py guards its divisions this way)."""
    return value if value else NAN


def ieee_div(num: float, den: float) -> float:
    """num / den with IEEE semantics (x/0 -> ±inf, 0/0 -> NaN) instead of ZeroDivisionError."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(np.float64(num) / np.float64(den))


@dataclass(frozen=True, slots=True)
class TradeArrays:
    """The trades' fields as arrays, one element per trade in the given order."""

    size: FloatArray
    entry_price: FloatArray
    exit_price: FloatArray
    multiplier: FloatArray
    entry_fee: FloatArray
    exit_fee: FloatArray
    entry_bar: IntArray
    exit_bar: IntArray
    entry_ts: IntArray
    exit_ts: IntArray

    @classmethod
    def of(cls, trades: Sequence[Trade]) -> TradeArrays:
        """Read every trade's fields in one pass (raises OverflowError/TypeError/ValueError on odd values)."""
        records = np.fromiter(map(_GET_FIELDS, trades), dtype=_RECORD, count=len(trades))
        return cls(*(records[name] for name in _FLOAT_FIELDS + _INT_FIELDS))  # strided views, no copies

    def __len__(self) -> int:
        return len(self.size)

    @property
    def is_open(self) -> npt.NDArray[np.bool_]:
        """``Trade.is_open``: an open trade has a negative exit_bar."""
        return self.exit_bar < 0

    def select(self, mask: npt.NDArray[np.bool_]) -> TradeArrays:
        return TradeArrays(*(getattr(self, name)[mask] for name in _FLOAT_FIELDS + _INT_FIELDS))

    @property
    def fees(self) -> FloatArray:
        """``Trade.fees``: entry plus exit fee."""
        fees: FloatArray = self.entry_fee + self.exit_fee
        return fees

    def pnl(self) -> FloatArray:
        """``Trade.pnl``: ``size * (exit_price - entry_price) * multiplier - fees``, in that order."""
        pnl: FloatArray = self.size * (self.exit_price - self.entry_price) * self.multiplier - self.fees
        return pnl

    def return_pct(self) -> FloatArray:
        """``Trade.return_pct``: ``copysign(1, size) * (exit / entry - 1) - fees / (|size| * entry * multiplier)``."""
        gross = np.copysign(1.0, self.size) * (self.exit_price / self.entry_price - 1.0)
        returns: FloatArray = gross - self.fees / (np.abs(self.size) * self.entry_price * self.multiplier)
        return returns


def _check_trade(t: Trade, n_steps: int) -> None:
    if not 0 <= t.entry_bar < n_steps:
        raise DataError(
            f"trade {t.id} ({t.symbol}) has entry_bar {t.entry_bar} outside the {n_steps} steps of the "
            "equity curve; bars are step indices into equity/timestamps (0 .. len-1)"
        )
    if not (t.size != 0 and t.entry_price > 0 and t.multiplier > 0):
        raise DataError(
            f"trade {t.id} ({t.symbol}) needs a non-zero size and positive entry_price and multiplier, "
            f"got size={t.size}, entry_price={t.entry_price}, multiplier={t.multiplier}"
        )
    if t.is_open:
        return
    if not t.entry_bar <= t.exit_bar < n_steps:
        raise DataError(
            f"trade {t.id} ({t.symbol}) has exit_bar {t.exit_bar} before its entry_bar {t.entry_bar} or "
            f"outside the {n_steps} steps; use exit_bar=-1 for a trade that is still open"
        )
    if not (math.isfinite(t.exit_price) and t.exit_ts >= t.entry_ts):
        raise DataError(
            f"closed trade {t.id} ({t.symbol}) needs a finite exit_price and exit_ts >= entry_ts, got "
            f"exit_price={t.exit_price}, entry_ts={t.entry_ts}, exit_ts={t.exit_ts}"
        )


def validate_trades(trades: Sequence[Trade], n_steps: int) -> None:
    """Check the bar indices of every trade against the number of steps (raises DataError at the first bad one)."""
    for t in trades:
        _check_trade(t, n_steps)


def trade_arrays(trades: Sequence[Trade], n_steps: int) -> TradeArrays:
    """The trades as arrays, validated like ``validate_trades`` (same errors, same first offending trade)."""
    try:
        arrays = TradeArrays.of(trades)
    except (OverflowError, TypeError, ValueError) as exc:
        validate_trades(trades, n_steps)  # raises the DataError that says what is wrong, if there is one
        for t in trades:
            try:
                np.array([_GET_FIELDS(t)], dtype=_RECORD)
            except (OverflowError, TypeError, ValueError):
                raise DataError(
                    f"trade {t.id} ({t.symbol}) has a field that is not a number in range ({exc}): prices, "
                    "sizes and fees must be floats, bars and timestamps int64 (ns since the epoch)"
                ) from exc
        raise
    a = arrays
    closed = a.exit_bar >= 0
    with np.errstate(invalid="ignore"):
        ok = (a.entry_bar >= 0) & (a.entry_bar < n_steps)
        ok &= (a.size != 0) & (a.entry_price > 0) & (a.multiplier > 0)
        closed_ok = (a.entry_bar <= a.exit_bar) & (a.exit_bar < n_steps)
        closed_ok &= np.isfinite(a.exit_price) & (a.exit_ts >= a.entry_ts)
    ok &= closed_ok | ~closed
    if not bool(ok.all()):
        validate_trades(trades, n_steps)
    return arrays


def exposure_pct(closed: TradeArrays, n_steps: int) -> float:
    """Share of steps (not of time) covered by a closed trade, entry and exit steps included.

    Backtesting.py 0.6.6 (finalize_trades=False) passes only closed trades, so open trades do not count.
    The number of covered steps is the length of the union of the [entry, exit] bar ranges.
    """
    covered = 0
    if len(closed):
        order = np.argsort(closed.entry_bar, kind="stable")
        starts = closed.entry_bar[order]
        stops = closed.exit_bar[order] + 1
        reach = np.maximum.accumulate(stops)  # furthest step covered by this and every earlier range
        reach_before = np.empty_like(reach)
        reach_before[0] = starts[0]
        reach_before[1:] = reach[:-1]
        covered = int(np.maximum(stops - np.maximum(starts, reach_before), 0).sum())
    return float(np.float64(covered) / n_steps * 100)  # == mean of the 0/1 have-position series, times 100


@dataclass(frozen=True, slots=True)
class TradeStats:
    n_trades: int
    win_rate_pct: float
    best_trade_pct: float
    worst_trade_pct: float
    avg_trade_pct: float
    max_trade_duration: Duration
    avg_trade_duration: Duration
    profit_factor: float
    expectancy_pct: float
    sqn: float
    kelly: float
    avg_win: float
    avg_loss: float
    avg_win_pct: float
    avg_loss_pct: float


def trade_stats(closed: TradeArrays, resolution: int | None) -> TradeStats:
    """Backtesting.py's trade statistics of the closed trades; durations are rounded up to ``resolution`` ns."""
    n = len(closed)
    pl = closed.pnl()
    returns = closed.return_pct()
    durations = closed.exit_ts - closed.entry_ts

    is_win = pl > 0
    win_rate = NAN if not n else int(np.count_nonzero(is_win)) / n  # == np.mean(pl > 0): exact count / n
    is_loss = pl < 0
    wins = pl[is_win]
    losses = pl[is_loss]
    kelly = win_rate - ieee_div(1 - win_rate, ieee_div(_mean(wins), -_mean(losses)))
    return TradeStats(
        n_trades=n,
        win_rate_pct=win_rate * 100,
        best_trade_pct=float(returns.max()) * 100 if n else NAN,
        worst_trade_pct=float(returns.min()) * 100 if n else NAN,
        avg_trade_pct=geometric_mean(returns) * 100,
        max_trade_duration=to_duration(int(durations.max()) if n else None, resolution),
        avg_trade_duration=to_duration(mean_ns(durations) if n else None, resolution),
        profit_factor=ieee_div(
            float(returns[returns > 0].sum()),
            nan_if_zero(abs(float(returns[returns < 0].sum()))),
        ),
        expectancy_pct=_mean(returns) * 100,
        sqn=ieee_div(math.sqrt(n) * _mean(pl), nan_if_zero(_std(pl))),
        kelly=kelly,
        avg_win=_mean(wins),
        avg_loss=_mean(losses),
        avg_win_pct=_mean(returns[is_win]) * 100,
        avg_loss_pct=_mean(returns[is_loss]) * 100,
    )


def fee_sum(fees: FloatArray) -> float:
    """``float(sum(t.fees for t in trades))``: Python's own left-to-right ``sum`` over the same floats."""
    return float(sum(fees.tolist()))


def default_fees(trades: TradeArrays) -> float:
    """Fees of all trades, closed and open (an open trade has paid its entry fee)."""
    return fee_sum(trades.fees)


def default_turnover(trades: TradeArrays) -> float:
    """Traded value: every trade's entry value plus, once closed, its exit value.

    Added one value at a time in trade order (entry, then exit), starting from 0.0, like the Python loop
    ``total += value`` (``np.add.accumulate`` adds sequentially).
    """
    abs_size = np.abs(trades.size)
    values = np.empty((len(trades), 2), dtype=np.float64)
    values[:, 0] = abs_size * trades.entry_price * trades.multiplier
    values[:, 1] = abs_size * trades.exit_price * trades.multiplier
    keep = np.ones((len(trades), 2), dtype=np.bool_)
    keep[:, 1] = ~trades.is_open
    terms = np.concatenate((np.zeros(1), values[keep]))  # row-major: entry, exit, entry, exit, ...
    return float(np.add.accumulate(terms)[-1])
