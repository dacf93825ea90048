"""The engine: streams of bars, strategies, risk, portfolio and a gateway. It knows no mode.

A backtest, a replay, paper and live trading differ only in how bars arrive (all known in advance and revealed
step by step with `run_batch`, or pushed one at a time with `push_bar`) and in which gateway executes orders.
Each step does the same four things, in this order:
1. the gateway matches working orders against the step's new bars (they were placed before these bars);
2. the bars are revealed to strategies (series grow by one; indicators and longer time frames follow);
3. each strategy that trades one of the symbols with a new bar gets on_bar();
4. the gateway updates trailing stops from the finished bars.
Order handling (submission, risk, fills, sizing) lives in core/execution.py, mixed into Engine.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from tradeforge.core.clock import iso, parse_timeframe
from tradeforge.core.errors import ConfigError, DataError, LookAheadError, StrategyError
from tradeforge.core.events import Bar, Fill
from tradeforge.core.execution import Execution
from tradeforge.core.heap import full_collections_deferred
from tradeforge.core.orders import Order
from tradeforge.core.portfolio import Portfolio
from tradeforge.core.ports import ExecutionGateway
from tradeforge.core.risk import RiskEngine
from tradeforge.core.series import BarView, Resampler, Stream
from tradeforge.core.signals import Signal
from tradeforge.core.strategy import Strategy

IntArray = npt.NDArray[np.int64]


class Engine(Execution):
    def __init__(self, portfolio: Portfolio, gateway: ExecutionGateway, risk: RiskEngine | None = None) -> None:
        self.portfolio = portfolio
        self.gateway = gateway
        self.risk = risk or RiskEngine()
        self.instruments = portfolio.instruments
        self.base: dict[str, Stream] = {}
        self.streams: dict[tuple[str, int], Stream] = {}
        self.strategies: list[Strategy] = []
        self._by_name: dict[str, Strategy] = {}
        self._symbols: dict[str, list[str]] = {}
        self.orders: list[Order] = []
        self.fills: list[Fill] = []
        self.signals: list[Signal] = []
        self._signal_now: dict[tuple[str, str], Signal] = {}  # (strategy, symbol) -> its signal of this step
        self.open: dict[int, Order] = {}
        self.step = -1
        self.step_ts: list[int] = []
        self.bar_steps: dict[str, Any] = {}  # per symbol: step of each of its bars (list, array, or None = all)
        self._batch_ts: IntArray | None = None
        self._order_seq = 0
        self._entries: dict[tuple[str, str], int] = {}  # (strategy, symbol) -> period of the last entry
        self._pending: list[Bar] = []
        self._now_step = -1
        self._now = 0
        self._touched: set[str] | None = None  # symbols with a bar at the current step (None: all of them)
        self._matching = False  # the gateway is matching orders against bars not yet revealed
        self._started = False
        self._stopped = False
        self._wants_orders: set[str] = set()  # strategies that override on_order / on_trade
        self._wants_trades: set[str] = set()
        gateway.bind(self)

    # ================================================================ wiring
    def add_stream(self, symbol: str, timeframe: int, arrays: dict[str, Any] | None = None) -> Stream:
        """A base stream of bars: complete arrays (backtest) or None to receive bars with push_bar."""
        if symbol not in self.instruments:
            raise ConfigError(f"no instrument is defined for {symbol!r}")
        if symbol in self.base:
            raise ConfigError(f"{symbol} was added twice: give each symbol one base stream")
        stream = Stream(symbol, timeframe, arrays=arrays)
        self.base[symbol] = stream
        self.streams[(symbol, timeframe)] = stream
        self.bar_steps[symbol] = []
        return stream

    def add_strategy(self, strategy: Strategy, symbols: Sequence[str] | None = None, capital: float = 0.0) -> None:
        if not isinstance(strategy, Strategy):
            raise ConfigError(f"{strategy!r} is not a Strategy instance: subclass tradeforge.Strategy")
        if self._started:
            raise ConfigError("strategies must be added before the first bar")
        chosen = list(symbols) if symbols else list(self.base)
        for s in chosen:
            if s not in self.base:
                raise ConfigError(f"strategy {strategy.name} trades {s!r}, which has no data; add its bars")
        name = strategy._name
        if name in self._by_name:
            index = 2
            while f"{name}#{index}" in self._by_name:
                index += 1
            name = f"{name}#{index}"
        strategy._name = name
        strategy._engine = self
        strategy.data = self.view(chosen[0], None)
        self.strategies.append(strategy)
        self._by_name[name] = strategy
        self._symbols[name] = chosen
        klass = type(strategy)
        if klass.on_order is not Strategy.on_order:
            self._wants_orders.add(name)
        if klass.on_trade is not Strategy.on_trade:
            self._wants_trades.add(name)
        self.portfolio.add_book(name, capital)

    def strategy_symbols(self, strategy: Strategy) -> list[str]:
        return self._symbols[strategy._name]

    def view(self, symbol: str, timeframe: str | None) -> BarView:
        base = self.base.get(symbol)
        if base is None:
            raise ConfigError(f"no bars for symbol {symbol!r}; known symbols: {', '.join(self.base)}")
        if timeframe is None:
            return base.view
        tf = parse_timeframe(timeframe)
        if tf == base.timeframe:
            return base.view
        stream = self.streams.get((symbol, tf))
        if stream is None:
            stream = Stream(symbol, tf)
            resampler = Resampler(base, stream)
            for i in range(base.n):  # catch up with the bars already revealed
                resampler.feed(i)
            base.children.append(resampler)
            self.streams[(symbol, tf)] = stream
        return stream.view

    def book_equity(self, strategy: Strategy) -> float:
        return self.portfolio.book_equity(strategy._name, self.prices())

    def open_orders(self, strategy: str | None = None) -> list[Order]:
        return [o for o in self.open.values() if strategy is None or o.strategy == strategy]

    # ============================================================= running
    def start(self) -> None:
        if self._started:
            return
        self._started = True
        for strategy in self.strategies:
            self._call(strategy, "on_start", strategy.on_start)

    def stop(self) -> None:
        if self._stopped:
            return
        self.flush()
        self._stopped = True
        for strategy in self.strategies:
            self._call(strategy, "on_stop", strategy.on_stop)

    def run_batch(
        self,
        step_ts: IntArray,
        bar_index: dict[str, IntArray | None],
        progress: Callable[[int, int], None] | None = None,
        chunk: int = 65_536,
    ) -> None:
        """Run every step of complete streams. bar_index[symbol] maps step -> bar index (-1: no bar), or is
        None when the symbol has a bar at every step. progress(done, total) is called between chunks of steps,
        so it costs nothing per bar."""
        self.start()
        self._batch_ts = step_ts
        n = int(step_ts.shape[0])
        for symbol, idx in bar_index.items():
            # None: the symbol has a bar at every step (bar index == step), so no index array is kept
            self.bar_steps[symbol] = None if idx is None else np.flatnonzero(idx >= 0)
        single = len(self.base) == 1 and next(iter(bar_index.values())) is None
        names = list(self.base)
        streams = [self.base[s] for s in names]
        indexes = [bar_index[s] for s in names]
        with full_collections_deferred():
            self._run_chunks(n, chunk, single, progress, streams, indexes)

    def _run_chunks(
        self,
        n: int,
        chunk: int,
        single: bool,
        progress: Callable[[int, int], None] | None,
        streams: list[Stream],
        indexes: list[IntArray | None],
    ) -> None:
        for start in range(0, n, chunk):
            stop = min(n, start + chunk)
            if single:
                self._run_single(start, stop)
            else:
                for k in range(start, stop):
                    present: list[tuple[Stream, int]] = []
                    for stream, idx in zip(streams, indexes, strict=True):
                        i = k if idx is None else int(idx[k])
                        if i >= 0:
                            present.append((stream, i))
                    self._run_step(k, present)
            if progress is not None:
                progress(stop, n)

    def _run_single(self, start: int, stop: int) -> None:
        """The common case — one symbol, a bar at every step — with Stream.reveal and _run_step written out
        inline (no call per bar). Only exceptions from a strategy's on_bar become StrategyError, as in _call."""
        stream = next(iter(self.base.values()))
        # these lists are only ever changed in place, so local names stay valid while strategies add to them
        pairs, hooks, children = stream.pairs, stream.hooks, stream.children
        gateway = self.gateway
        working = gateway.working
        calls = [(s, s.on_bar) for s in self.strategies]
        only = calls[0][1] if len(calls) == 1 else None  # the usual single strategy: no inner loop per bar
        self._touched = None
        for k in range(start, stop):
            self.step = k
            if working:
                self._matching = True
                try:
                    gateway.on_bar(stream, k)
                finally:
                    self._matching = False
            stream.n = k + 1
            for dst, src in pairs:
                dst.append(src[k])
            if hooks or children:
                self._grow(stream, k)
            strategy = calls[0][0]
            try:  # free in CPython 3.11+ unless something raises
                if only is not None:
                    only()
                else:
                    for strategy, on_bar in calls:  # noqa: B007 - strategy names the culprit below
                        on_bar()
            except (StrategyError, LookAheadError):
                raise
            except Exception as exc:
                raise StrategyError(strategy._name, "on_bar", iso(self.now), exc) from exc
            if working:
                gateway.after_bar(stream, k)

    @staticmethod
    def _grow(stream: Stream, i: int) -> None:
        """The rest of Stream.reveal: recomputed indicators and longer time frames."""
        for hook in stream.hooks:
            hook(i)
        for child in stream.children:
            child.feed(i)

    def push_bar(self, bar: Bar) -> None:
        """Streaming input: bars of one timestamp are gathered; a later timestamp runs the gathered step."""
        stream = self.base.get(bar.symbol)
        if stream is None:
            raise DataError(f"bar for unknown symbol {bar.symbol!r}; known: {', '.join(self.base)}")
        if stream.complete:
            raise ConfigError(f"{bar.symbol} was given complete arrays; push_bar needs a growing stream")
        bar.validate()
        last = stream.growing["ts"].view()
        if stream.length and bar.ts <= int(last[-1]):
            kind = "duplicate" if bar.ts == int(last[-1]) else "out of order"
            raise DataError(f"{bar.symbol} bar at {iso(bar.ts)} is {kind}: the last bar was at {iso(int(last[-1]))}")
        if self._pending and bar.ts != self._pending[0].ts:
            if bar.ts < self._pending[0].ts:
                raise DataError(f"bar at {iso(bar.ts)} arrived after bars at {iso(self._pending[0].ts)}")
            self.flush()
        if any(p.symbol == bar.symbol for p in self._pending):
            raise DataError(f"duplicate {bar.symbol} bar at {iso(bar.ts)}: one is already waiting for this step")
        self._pending.append(bar)

    def advance(self, now: int) -> None:
        """The clock reached `now` (int ns UTC): run the gathered step if its bars have closed by then."""
        if self._pending:
            first = self._pending[0]
            if now >= first.ts + first.timeframe:
                self.flush()

    def flush(self) -> None:
        """Run the gathered step (the clock has passed its bars' timestamp)."""
        if not self._pending:
            return
        self.start()
        bars, self._pending = self._pending, []
        if self.risk.limits.max_daily_loss is not None:  # the day's starting equity, at its first bar
            self.risk.observe_equity(bars[0].ts, self.portfolio.equity(self.prices()))
        k = len(self.step_ts)
        self.step_ts.append(bars[0].ts)
        present = []
        for name in self.base:  # always in the order streams were added, as in run_batch
            bar = next((b for b in bars if b.symbol == name), None)
            if bar is None:
                continue
            stream = self.base[name]
            stream.append_bar(bar.ts, bar.open, bar.high, bar.low, bar.close, bar.volume)
            self.bar_steps[name].append(k)
            present.append((stream, stream.length - 1))
        self._run_step(k, present)

    def _run_step(self, k: int, present: list[tuple[Stream, int]]) -> None:
        self.step = k
        gateway = self.gateway
        self._touched = {stream.symbol for stream, _ in present}
        touched = self._touched
        if gateway.working:
            self._matching = True
            try:
                for stream, i in present:
                    gateway.on_bar(stream, i)
            finally:
                self._matching = False
        for stream, i in present:
            stream.reveal(i)
        for strategy in self.strategies:
            symbols = self._symbols[strategy._name]
            if len(symbols) == 1 and symbols[0] not in touched:
                continue
            if not touched.intersection(symbols):
                continue
            self._call(strategy, "on_bar", strategy.on_bar)
        if gateway.working:
            for stream, i in present:
                gateway.after_bar(stream, i)
