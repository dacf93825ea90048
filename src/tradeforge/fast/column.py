"""simulate_column_nb: one column of a signal-driven backtest with the event engine's rules (tradeforge.core and
sim.SimulatedBroker), so a kernel column and an engine run of the same strategy give the same trades and equity.

What one column does, bar by bar (the engine's order of processing):
1. orders placed earlier trade against the bar. At the open, in the order they were placed: the stop-loss /
   take-profit pair of the open trade and its trailing stop if the bar gaps through them, then a pending signal
   exit, then a pending entry (both market orders, next-open mode). Then inside the bar: the pair (when both
   are touched the stop-loss wins), then the trailing stop. Then the stop-loss / take-profit of a trade
   entered at this open, against the whole bar.
2. the bar closes and the strategy acts: with a position and a trailing stop wanted, the trailing stop is
   placed (its extreme starts at this close); then the signals: long: a short entry reverses (close, then
   sell), an exit closes; short: the mirror; flat: a long or a short entry (both at once: neither). Orders
   fill at the next bar's open, or at once at this close (fill_on_close). A trade entered at this close gets
   its trailing stop now.
3. a trailing stop placed on an earlier bar moves its extreme to this bar's high (long) or low (short);
   equity = cash + position * close * multiplier.

Entries are sized when they fill: SIZE_PERCENT spends that fraction of the available margin (cash), fees
included, in whole lots; SIZE_UNITS is rounded down to lots when placed; SIZE_VALUE becomes units at the signal
bar's close. An entry the cash cannot pay for is refused (nothing happens). Stop-loss and take-profit prices
are fractions of the entry fill price; the trailing stop trails `tsl_stop` below the highest high (long) or
above the lowest low (short) of the bars after the one it was placed on. Slippage moves market and stop fills
(never limit fills) against the trader, inside the bar's range. Fees: fixed + rate * value on every fill.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
from numba import njit
from numba.misc.special import literally

from tradeforge.fast.fills import (
    LEG_STOP_LOSS,
    NO_LEG,
    affordable_nb,
    bracket_hit_nb,
    fee_nb,
    fill_price_nb,
    margin_ok_nb,
    round_lots_nb,
    stop_touch_nb,
    trailing_level_nb,
)
from tradeforge.fast.records import (
    EXIT_END,
    EXIT_SIGNAL,
    EXIT_STOP_LOSS,
    EXIT_TAKE_PROFIT,
    EXIT_TRAILING,
    SIZE_PERCENT,
    SIZE_VALUE,
)
from tradeforge.fast.trades import write_trade_nb

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]
Records = npt.NDArray[np.void]


@njit(cache=True)
def _stop_exit_nb(
    at_open: bool,
    pos: float,
    use_legs: bool,
    sl_price: float,
    tp_price: float,
    trail_on: bool,
    trail_extreme: float,
    tsl: float,
    o: float,
    h: float,
    lo: float,
) -> tuple[float, int]:
    """Where the open trade's stop-loss / take-profit pair, else its trailing stop, trades in the bar (at_open:
    only if the bar opens beyond it): (raw price, EXIT_* reason), or (NaN, -1)."""
    exit_side = -1 if pos > 0.0 else 1
    if use_legs:
        hit, leg = bracket_hit_nb(exit_side, sl_price, tp_price, o, h, lo)
        if leg != NO_LEG and (not at_open or hit == o):
            return hit, EXIT_STOP_LOSS if leg == LEG_STOP_LOSS else EXIT_TAKE_PROFIT
    if trail_on:
        hit = stop_touch_nb(exit_side, trailing_level_nb(exit_side, trail_extreme, tsl), o, h, lo)
        if not math.isnan(hit) and (not at_open or hit == o):
            return hit, EXIT_TRAILING
    return math.nan, -1


@njit(cache=True)
def _close_nb(
    trades: Records,
    n_trades: int,
    col: int,
    i: int,
    pos: float,
    entry_idx: int,
    entry_price: float,
    entry_fee: float,
    raw_price: float,
    reason: int,
    lo: float,
    h: float,
    slip: float,
    rate: float,
    fixed: float,
    multiplier: float,
) -> float:
    """Close the whole position at raw_price (moved by slippage unless a take-profit); write its trade record
    at n_trades. Returns the cash flow."""
    side = -1 if pos > 0.0 else 1
    price = fill_price_nb(side, raw_price, lo, h, slip, reason != EXIT_TAKE_PROFIT)
    qty = abs(pos)
    fee = fee_nb(qty, price, multiplier, rate, fixed)
    write_trade_nb(
        trades, n_trades, col, entry_idx, i, pos, entry_price, price, entry_fee, fee / qty * qty, reason, multiplier
    )
    return -(qty * side) * price * multiplier - fee


@njit(cache=True)
def _open_nb(
    side: int,
    raw_price: float,
    lo: float,
    h: float,
    cash: float,
    size: float,
    size_type: int,
    units: float,
    slip: float,
    rate: float,
    fixed: float,
    lot: float,
    multiplier: float,
) -> tuple[float, float, float]:
    """Size and price a market entry from flat: (units, fill price, fee); units 0 when it is refused."""
    price = fill_price_nb(side, raw_price, lo, h, slip, True)
    if size_type == SIZE_PERCENT:
        qty = affordable_nb(max(0.0, cash), size, price, multiplier, rate, fixed, lot)
        return qty, price, fee_nb(qty, price, multiplier, rate, fixed)
    fee = fee_nb(units, price, multiplier, rate, fixed)
    if units > 0.0 and margin_ok_nb(units, price, multiplier, fee, max(0.0, cash)):
        return units, price, fee
    return 0.0, price, fee


@njit(cache=True)
def simulate_column_nb(
    col: int,
    o_: FloatArray,
    h_: FloatArray,
    l_: FloatArray,
    c_: FloatArray,
    le: BoolArray,
    lx: BoolArray,
    se: BoolArray,
    sx: BoolArray,
    size: float,
    size_type: int,
    sl: float,
    tp: float,
    tsl: float,
    rate: float,
    fixed: float,
    slip: float,
    cash0: float,
    lot: float,
    multiplier: float,
    fill_on_close: bool,
    eq: FloatArray,
    trades: Records,
    n_trades: int,
    with_stops: bool,
) -> tuple[int, int]:
    """One column (1-D arrays): writes eq and trade records from n_trades on (the caller makes room for
    _entry_bound of them). Returns (n_trades, closed trades).

    fill_on_close and with_stops (any stop-loss, take-profit or trailing stop) must be literal constants at the
    call site: each combination compiles to its own loop without the code it does not need (the stop checks
    alone, never taken, slow the plain loop by half)."""
    literally(fill_on_close)
    literally(with_stops)
    n = c_.shape[0]
    use_sl = sl > 0.0
    use_tp = tp > 0.0
    use_legs = use_sl or use_tp
    use_tsl = tsl > 0.0
    cash = cash0
    pos = 0.0  # signed units
    entry_idx = -1
    entry_price = 0.0
    entry_fee = 0.0
    sl_price = math.nan
    tp_price = math.nan
    trail_on = False
    trail_extreme = 0.0
    trail_bar = -1
    pending_exit = False
    pending_side = 0  # +1 / -1: a market entry waits for the next open
    pending_units = 0.0  # its size for SIZE_UNITS / SIZE_VALUE
    n_closed = 0
    for i in range(n):
        o = o_[i]
        h = h_[i]
        lo = l_[i]
        c = c_[i]
        # -------------------------------------------- 1. orders placed on earlier bars meet this bar
        if with_stops and pos != 0.0 and (use_legs or trail_on):  # the open trade's exits, at the open
            raw, reason = _stop_exit_nb(True, pos, use_legs, sl_price, tp_price, trail_on, trail_extreme, tsl, o, h, lo)
            if reason >= 0:
                cash += _close_nb(
                    trades, n_trades, col, i, pos, entry_idx, entry_price, entry_fee, raw, reason,
                    lo, h, slip, rate, fixed, multiplier,
                )  # fmt: skip
                n_trades += 1
                n_closed += 1
                pos = 0.0
                trail_on = False
        if not fill_on_close and pending_exit:  # market orders at the open: a signal exit, then an entry
            pending_exit = False
            if pos != 0.0:
                cash += _close_nb(
                    trades, n_trades, col, i, pos, entry_idx, entry_price, entry_fee, o,
                    EXIT_SIGNAL, lo, h, slip, rate, fixed, multiplier,
                )  # fmt: skip
                n_trades += 1
                n_closed += 1
                pos = 0.0
                trail_on = False
        entered = False
        if not fill_on_close and pending_side != 0:
            side = pending_side
            pending_side = 0
            qty, price, fee = _open_nb(
                side, o, lo, h, cash, size, size_type, pending_units, slip, rate, fixed, lot, multiplier
            )
            if qty > 0.0:
                cash += -(qty * side) * price * multiplier - fee
                pos = qty * side
                entry_idx = i
                entry_price = price
                entry_fee = fee / qty * qty
                if use_sl:
                    sl_price = price * (1.0 - sl) if side > 0 else price * (1.0 + sl)
                if use_tp:
                    tp_price = price * (1.0 + tp) if side > 0 else price * (1.0 - tp)
                entered = True
        if with_stops and pos != 0.0 and (use_legs or trail_on):
            # inside the bar: the open trade's exits; or the stop-loss / take-profit of a trade entered at this
            # open, against the whole bar (its trailing stop is placed at this close)
            raw, reason = _stop_exit_nb(
                False, pos, use_legs, sl_price, tp_price, trail_on and not entered, trail_extreme, tsl, o, h, lo
            )
            if reason >= 0:
                cash += _close_nb(
                    trades, n_trades, col, i, pos, entry_idx, entry_price, entry_fee, raw, reason,
                    lo, h, slip, rate, fixed, multiplier,
                )  # fmt: skip
                n_trades += 1
                n_closed += 1
                pos = 0.0
                trail_on = False

        # -------------------------------------------- 2. the bar has closed: the strategy acts
        if with_stops and use_tsl and pos != 0.0 and not trail_on:
            trail_on = True
            trail_extreme = c
            trail_bar = i
        want = 0  # side of a new entry
        close_now = False
        if pos > 0.0:
            if se[i] and not le[i]:
                close_now = True
                want = -1
            elif lx[i]:
                close_now = True
        elif pos < 0.0:
            if le[i] and not se[i]:
                close_now = True
                want = 1
            elif sx[i]:
                close_now = True
        elif le[i] != se[i]:
            want = 1 if le[i] else -1
        if close_now or want != 0:
            units = 0.0
            if want != 0 and size_type != SIZE_PERCENT:
                units = round_lots_nb(size / c if size_type == SIZE_VALUE else size, lot)
                if units == 0.0:
                    want = 0  # below one lot: the engine refuses the order when it is placed
            if not fill_on_close:
                pending_exit = close_now
                pending_side = want
                pending_units = units
            else:
                if close_now:
                    cash += _close_nb(
                        trades, n_trades, col, i, pos, entry_idx, entry_price, entry_fee, c,
                        EXIT_SIGNAL, lo, h, slip, rate, fixed, multiplier,
                    )  # fmt: skip
                    n_trades += 1
                    n_closed += 1
                    pos = 0.0
                    trail_on = False
                if want != 0:
                    qty, price, fee = _open_nb(
                        want, c, lo, h, cash, size, size_type, units, slip, rate, fixed, lot, multiplier
                    )
                    if qty > 0.0:
                        cash += -(qty * want) * price * multiplier - fee
                        pos = qty * want
                        entry_idx = i
                        entry_price = price
                        entry_fee = fee / qty * qty
                        if use_sl:
                            sl_price = price * (1.0 - sl) if want > 0 else price * (1.0 + sl)
                        if use_tp:
                            tp_price = price * (1.0 + tp) if want > 0 else price * (1.0 - tp)
                        if with_stops and use_tsl:
                            trail_on = True
                            trail_extreme = c
                            trail_bar = i

        # -------------------------------------------- 3. after the bar
        if with_stops and trail_on and trail_bar < i:
            if pos > 0.0:
                if not h <= trail_extreme:
                    trail_extreme = h
            elif not lo >= trail_extreme:
                trail_extreme = lo
        eq[i] = cash + pos * c * multiplier if pos != 0.0 else cash

    if pos != 0.0:  # still open: recorded with exit_idx -1
        write_trade_nb(
            trades, n_trades, col, entry_idx, -1, pos, entry_price, math.nan, entry_fee, math.nan, EXIT_END, multiplier
        )
        n_trades += 1
    return n_trades, n_closed
