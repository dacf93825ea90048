"""The fast path's trading rules as an event-engine Strategy, so a signal function found by a sweep runs unchanged
in backtests, bar-by-bar replay, paper and live trading.

Rules (those of tradeforge.fast.simulate, proven equal by tests/parity/test_fast_parity.py): a position's
trailing stop is placed first; then, holding long, a short entry (without a long entry on the same bar) closes
and reverses, else a long exit closes; holding short, the mirror image; flat, a long or a short entry (not both)
opens. Entries are buy()/sell() with fraction= (size_type "percent"), size= (units) or size=value/close
("value"); a stop-loss and a take-profit are attached to the entry and set to fractions of the actual fill price
as soon as it fills; the trailing stop is a trailing-stop order cancelled when its trade closes.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tradeforge.core.errors import ConfigError
from tradeforge.core.strategy import Strategy, TradeEvent
from tradeforge.research.signals import Bars, SignalFunction, call_signals


class SignalRules(Strategy):
    """Base class: subclasses say what the signals are at the current bar (``current_signals``)."""

    size = 1.0
    size_type = "percent"
    sl: float | None = None
    tp: float | None = None
    tsl: float | None = None

    def current_signals(self) -> tuple[bool, bool, bool, bool]:
        """(long entry, long exit, short entry, short exit) at the current bar."""
        raise NotImplementedError

    def on_start(self) -> None:
        if self.size_type not in ("percent", "units", "value"):
            raise ConfigError(f"size_type must be 'percent', 'units' or 'value', got {self.size_type!r}")
        self._trail: Any = None

    def on_bar(self) -> None:
        self._place_trailing()
        qty = self.position().qty
        le, lx, se, sx = self.current_signals()
        if qty > 0:
            if se and not le:
                self.close()
                self._enter(-1)
            elif lx:
                self.close()
        elif qty < 0:
            if le and not se:
                self.close()
                self._enter(1)
            elif sx:
                self.close()
        elif le != se:
            self._enter(1 if le else -1)
        self._place_trailing()  # a trade entered at this close (fill_timing="close")

    def _place_trailing(self) -> None:
        qty = self.position().qty
        if self.tsl and qty and self._trail is None:
            order = self.sell if qty > 0 else self.buy
            self._trail = order(size=abs(qty), trail_percent=self.tsl)

    def _enter(self, side: int) -> None:
        close = float(self.data.close[-1])
        kwargs: dict[str, Any] = {}
        if self.size_type == "percent":
            kwargs["fraction"] = self.size
        else:
            kwargs["size"] = self.size if self.size_type == "units" else self.size / close
        # placeholders that attach the exits to the entry; on_trade moves them to fractions of the fill price
        if self.sl:
            kwargs["sl"] = close * (0.5 if side > 0 else 2.0)
        if self.tp:
            kwargs["tp"] = close * (2.0 if side > 0 else 0.5)
        (self.buy if side > 0 else self.sell)(**kwargs)

    def on_trade(self, event: TradeEvent) -> None:
        if event.closed and self._trail is not None:
            self.cancel(self._trail)
            self._trail = None
        for trade in event.opened:
            long = trade.size > 0
            if self.sl:
                price = trade.entry_price * (1.0 - self.sl) if long else trade.entry_price * (1.0 + self.sl)
                self.engine.set_trade_exit(trade, "stop_loss", price)
            if self.tp:
                price = trade.entry_price * (1.0 + self.tp) if long else trade.entry_price * (1.0 - self.tp)
                self.engine.set_trade_exit(trade, "take_profit", price)


def _engine_signals(
    ts: np.ndarray, o: np.ndarray, h: np.ndarray, lo: np.ndarray, c: np.ndarray, v: np.ndarray, *,
    fn: SignalFunction, params: dict[str, Any],
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:  # fmt: skip
    if len(c) == 0:  # asked before the first bar (replay, paper, live) how many outputs there are
        empty = np.zeros(0)
        return empty, empty, empty, empty
    bars = Bars(np.asarray(ts, dtype=np.int64), *(np.asarray(x, dtype=np.float64) for x in (o, h, lo, c, v)))
    signals = call_signals(fn, bars, {k: np.asarray([value]) for k, value in params.items()})
    out = []
    for value in (signals.entries, signals.exits, signals.short_entries, signals.short_exits):
        arr = np.zeros(len(bars)) if value is None else np.asarray(value, dtype=np.float64).reshape(len(bars), -1)[:, 0]
        out.append(arr)
    return out[0], out[1], out[2], out[3]


class FastSignalStrategy(SignalRules):
    """Runs a research signal function in the event engine: build one with ``signal_strategy(fn, **params)``.

    The signals are declared with ``self.I`` on the strategy's bars, so the engine probes them for look-ahead in
    a backtest and recomputes them as bars arrive in replay, paper and live trading."""

    def on_start(self) -> None:
        super().on_start()
        fn = type(self)._signal_function
        if fn is None:
            raise ConfigError("build the strategy with signal_strategy(signal_function, **params)")
        params = {name: getattr(self, name) for name in type(self)._signal_params}
        d = self.data
        self._signals = self.I(
            _engine_signals, d.ts, d.open, d.high, d.low, d.close, d.volume, fn=fn, params=params,
            name=getattr(fn, "__name__", "signals"),
        )  # fmt: skip

    def current_signals(self) -> tuple[bool, bool, bool, bool]:
        le, lx, se, sx = self._signals
        return le[-1] > 0.5, lx[-1] > 0.5, se[-1] > 0.5, sx[-1] > 0.5

    _signal_function: SignalFunction | None = None
    _signal_params: tuple[str, ...] = ()


def signal_strategy(fn: SignalFunction, *, name: str | None = None, **params: Any) -> type[FastSignalStrategy]:
    """A Strategy class trading ``fn``'s signals with the fast path's rules; ``params`` are its parameter values
    (e.g. a sweep's ``result.best``) and become the strategy's parameters; trading settings (size, size_type,
    sl, tp, tsl) may be passed too. Use it with run_backtest, the compat layer's runner or a live runner."""
    settings: dict[str, Any] = {k: params.pop(k) for k in ("size", "size_type", "sl", "tp", "tsl") if k in params}
    attrs: dict[str, Any] = {
        "_signal_function": staticmethod(fn),
        "_signal_params": tuple(params),
        **params,
        **settings,
    }
    label = name or f"{getattr(fn, '__name__', 'signals')}_strategy"
    return type(label, (FastSignalStrategy,), attrs)
