"""LiveRunner: the engine on live bars. Warm-up from the bar store and the exchange's history, then live bars.

The runner drives the SAME Engine (and the same Strategy objects) a backtest does, through its streaming API
(``push_bar`` then ``flush`` once the step's bars have closed), exactly as ``run_backtest(..., replay=True)`` does.
Only the bars' origin differs:

1. warm-up: the bars from ``start_ts`` on that the bar store holds, then the exchange's history (``feed.history``)
   up to the last closed bar, appended to the store; every one of them is a step of the engine;
2. live: batches from ``feed.watch``; a bar at or before the last one run is dropped (a repeat), a bar after a hole
   first has the hole filled from ``feed.history`` (a reconnect, a slow stream); live bars are appended to the bar
   store before the engine sees them (so a restart can replay exactly what ran).

With several symbols, the step at time t runs once every symbol has a bar at t or a later one (a symbol without a
bar at t had none). Each step runs in a worker thread (the engine and the listener's database work never block the
event loop, and never run two at a time); a listener (``RunRecorder``) persists what each step did.

Stopping: ``stop(reason)``, SIGINT/SIGTERM (asyncio signal handlers, when ``handle_signals``), ``until_ts``, or the
feeds running out of bars. ``kill(reason)``, SIGUSR1 or a kill file engages the engine's kill switch (cancel every
order, flatten every position, refuse new entries) and stops once the account is flat. The listener hears how the run
ended (``on_stop``) in every case, an error included, which is then re-raised.

Strategies' ``on_stop`` is not called when a live run stops: a paper deployment may resume later (see
``tradeforge.live.paper``), and a resumed run replays from its origin, where no stop happened.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from tradeforge.core.clock import iso
from tradeforge.core.engine import Engine
from tradeforge.core.errors import ConfigError
from tradeforge.core.events import Bar
from tradeforge.core.ports import Clock
from tradeforge.data.store import BarStore
from tradeforge.live.feed import BarFeed, bars_of, describe_bars, series_of

log = logging.getLogger("tradeforge.live.runner")
KILL_RETRY = 10.0  # seconds between new tries to cancel the orders a kill could not cancel

COMPLETED, STOPPED, FAILED = "completed", "stopped", "failed"


class RunListener(Protocol):
    """What a runner tells whoever keeps the record (the RunRecorder). Called from the runner's worker thread,
    one call at a time."""

    def on_step(self, ts: int, live: bool) -> None:
        """The engine has run the step at ts (warm-up or live)."""
        ...

    def on_live(self, last_warmup_ts: int | None) -> None:
        """The warm-up is over (its last step at last_warmup_ts, None without one): live bars follow."""
        ...

    def on_kill(self, reason: str) -> None:
        """The kill switch was engaged (orders cancelled, flattening orders sent)."""
        ...

    def on_heartbeat(self, now: int) -> None: ...

    def on_stop(self, status: str, reason: str, now: int) -> None:
        """The run ended: status is 'completed', 'stopped' or 'failed'."""
        ...


@dataclass(frozen=True)
class RunOutcome:
    status: str  # completed, stopped, failed
    reason: str
    warmup_bars: int
    live_bars: int
    first_ts: int | None  # open time of the first step run
    last_ts: int | None  # open time of the last step run


class LiveRunner:
    """Run an engine on live bars (see the module doc).

    engine: an Engine with one growing stream (``add_stream(symbol, tf)`` without arrays) per feed, strategies
    added. feeds: one per symbol. start_ts: open time of the first bar to run (bars before it are not read).
    store/source: the bar store where bars are read for the warm-up and live bars are appended (source is the
    store's source name, e.g. 'binance'); None to use the exchange's history only. kill_file: a path whose
    appearance engages the kill switch. until_ts: stop (completed) after the step at or after it.
    """

    def __init__(
        self,
        engine: Engine,
        feeds: Sequence[BarFeed],
        *,
        clock: Clock,
        start_ts: int,
        store: BarStore | None = None,
        source: str = "",
        listener: RunListener | None = None,
        kill_file: Path | None = None,
        until_ts: int | None = None,
        handle_signals: bool = True,
        control_interval: float = 0.25,
        heartbeat_interval: float = 30.0,
        warmup_chunk: int = 2_000,
    ) -> None:
        if not feeds:
            raise ConfigError("a live runner needs at least one bar feed")
        symbols = [f.symbol for f in feeds]
        if len(set(symbols)) != len(symbols):
            raise ConfigError(f"one feed per symbol, please: got {symbols}")
        for feed in feeds:
            stream = engine.base.get(feed.symbol)
            if stream is None:
                raise ConfigError(
                    f"the engine has no stream for {feed.symbol}: add it with engine.add_stream({feed.symbol!r}, tf)"
                )
            if stream.complete:
                raise ConfigError(f"{feed.symbol} was given complete arrays: a live stream must grow (arrays=None)")
            if stream.timeframe != feed.timeframe:
                raise ConfigError(
                    f"the {feed.symbol} feed has a {feed.timeframe} ns time frame, the engine's stream "
                    f"{stream.timeframe} ns"
                )
        if set(engine.base) != set(symbols):
            raise ConfigError(f"the engine trades {sorted(engine.base)} but feeds were given for {sorted(symbols)}")
        if store is not None and not source:
            raise ConfigError("a bar store needs the source name its bars are filed under (e.g. source='binance')")
        if control_interval <= 0 or heartbeat_interval <= 0:
            raise ConfigError("control_interval and heartbeat_interval must be > 0 seconds")
        self.engine = engine
        self.feeds = list(feeds)
        self.clock = clock
        self.start_ts = int(start_ts)
        self.store = store
        self.source = source
        self.listener = listener
        self.kill_file = kill_file
        self.until_ts = until_ts
        self.handle_signals = handle_signals
        self.control_interval = control_interval
        self.heartbeat_interval = heartbeat_interval
        self.warmup_chunk = max(1, warmup_chunk)
        self.phase = "new"  # new, warmup, live, done
        self.warmup_bars = 0
        self.live_bars = 0
        self.first_ts: int | None = None
        self.last_ts: int | None = None  # open time of the last step run
        self._frontier: dict[str, int] = {f.symbol: self.start_ts - f.timeframe for f in self.feeds}
        self._pending: dict[str, dict[int, Bar]] = {f.symbol: {} for f in self.feeds}
        self._stop_reason: str | None = None
        self._stop_status = STOPPED
        self._kill_reason: str | None = None
        self._killing = False
        # a kill gives up waiting to be flat after this long (the flattening orders fill on the next bar at worst)
        self.kill_timeout = max(120.0, 3 * max(f.timeframe for f in self.feeds) / 1e9)
        self._wake = asyncio.Event()  # asyncio primitives bind to the running loop when first used
        self._progress = asyncio.Condition()

    # ------------------------------------------------------------------------------------------------ control
    def stop(self, reason: str = "stop requested") -> None:
        """Ask the run to stop after the step it is running (from the runner's event loop)."""
        if self._stop_reason is None:
            self._stop_reason = reason
            self._stop_status = STOPPED
        self._wake.set()

    def kill(self, reason: str = "kill requested") -> None:
        """Engage the kill switch: cancel all orders, flatten, then stop once flat."""
        if self._kill_reason is None:
            self._kill_reason = reason
        self._wake.set()

    async def wait_for_step(self, ts: int, timeout: float = 10.0) -> None:
        """Wait until the step at ts (or a later one) has run, or the run has ended (tests and rehearsals)."""
        progress = self._progress
        async with asyncio.timeout(timeout), progress:
            await progress.wait_for(lambda: self.phase == "done" or (self.last_ts is not None and self.last_ts >= ts))

    # -------------------------------------------------------------------------------------------------- run
    async def run(self) -> RunOutcome:
        if self.phase != "new":
            raise ConfigError("a LiveRunner runs once: make a new one (with a new engine) to run again")
        loop = asyncio.get_running_loop()
        installed = self._install_signals(loop)
        status, reason = COMPLETED, ""
        try:
            self.phase = "warmup"
            await self._warm_up()
            if self._stop_reason is None:
                self.phase = "live"
                await asyncio.to_thread(self._on_live)
                await self._live()
            status = self._stop_status if self._stop_reason is not None else COMPLETED
            reason = self._stop_reason or "the feeds ended"
        except asyncio.CancelledError:
            status, reason = STOPPED, "cancelled"
            raise
        except BaseException as exc:
            status, reason = FAILED, f"{type(exc).__name__}: {exc}"
            log.error("live run failed: %s", reason)
            raise
        finally:
            for sig in installed:
                loop.remove_signal_handler(sig)
            for feed in self.feeds:
                await feed.close()
            self.phase = "done"
            if self.listener is not None:
                now = self.clock.now()
                await asyncio.shield(asyncio.to_thread(self.listener.on_stop, status, reason, now))
            await self._notify()
            log.info(
                "live run %s (%s): %d warm-up and %d live bars, last %s",
                status,
                reason,
                self.warmup_bars,
                self.live_bars,
                iso(self.last_ts) if self.last_ts is not None else "none",
            )
        return RunOutcome(status, reason, self.warmup_bars, self.live_bars, self.first_ts, self.last_ts)

    def _install_signals(self, loop: asyncio.AbstractEventLoop) -> list[signal.Signals]:
        if not self.handle_signals:
            return []
        installed = []
        handlers = {signal.SIGINT: self.stop, signal.SIGTERM: self.stop, signal.SIGUSR1: self.kill}
        for sig, handler in handlers.items():
            try:
                loop.add_signal_handler(sig, handler, f"signal {sig.name}")
            except (NotImplementedError, RuntimeError) as exc:  # not the main thread, or not supported here
                log.warning("cannot handle %s here (%s): stop the runner with stop() or a kill file", sig.name, exc)
                continue
            installed.append(sig)
        return installed

    async def _notify(self) -> None:
        async with self._progress:
            self._progress.notify_all()

    # ----------------------------------------------------------------------------------------------- warm-up
    async def _warm_up(self) -> None:
        for feed in self.feeds:
            stored = await asyncio.to_thread(self._read_store, feed)
            head: list[Bar] = []
            if stored and stored[0].ts > self.start_ts:
                # the store begins after the origin: its start comes from the exchange too
                head = await feed.history(self.start_ts, stored[0].ts)
            tail = await feed.history(stored[-1].ts + feed.timeframe if stored else self.start_ts)
            if head or tail:
                await asyncio.to_thread(self._append, head + tail)
            log.info(
                "warm-up %s: %s from the bar store, %s from the exchange",
                feed.symbol,
                describe_bars(stored),
                describe_bars(head + tail),
            )
            self._accept(feed, head + stored + tail)
        steps = self._ready_steps()
        for k in range(0, len(steps), self.warmup_chunk):
            if self._stop_reason is not None:
                return
            await asyncio.to_thread(self._run_steps, steps[k : k + self.warmup_chunk], False)
            await self._notify()

    def _read_store(self, feed: BarFeed) -> list[Bar]:
        store = self.store
        if store is None or not store.exists(self.source, feed.symbol, feed.timeframe):
            return []
        last = store.last_ts(self.source, feed.symbol, feed.timeframe)
        if last is None or last < self.start_ts:
            return []
        series = store.read(self.source, feed.symbol, feed.timeframe, start=self.start_ts)
        now = self.clock.now()
        return [b for b in bars_of(series) if b.ts + b.timeframe <= now]

    def _on_live(self) -> None:
        if self.listener is not None:
            self.listener.on_live(self.last_ts)

    # -------------------------------------------------------------------------------------------------- live
    async def _live(self) -> None:
        queue: asyncio.Queue[tuple[BarFeed, list[Bar]]] = asyncio.Queue()
        watchers = [asyncio.create_task(self._pump(feed, queue), name=f"feed {feed.symbol}") for feed in self.feeds]
        getter: asyncio.Task[tuple[BarFeed, list[Bar]]] | None = None
        waker: asyncio.Task[bool] | None = None
        last_beat = asyncio.get_running_loop().time()
        kill_started = last_retry = last_beat
        try:
            while True:
                if self._kill_reason is not None and not self._killing:
                    await asyncio.to_thread(self._engage_kill, self._kill_reason)
                    kill_started = last_retry = asyncio.get_running_loop().time()
                if self._killing and self._flat():
                    self._stop_reason = self._stop_reason or f"kill switch: {self._kill_reason}"
                elif self._killing:
                    now_loop = asyncio.get_running_loop().time()
                    if now_loop - kill_started > self.kill_timeout:
                        log.error("kill switch: the account is not flat %.0f s after the kill: stopping anyway; check "
                                  "its open orders and positions by hand", self.kill_timeout)  # fmt: skip
                        self._stop_reason = f"kill switch: {self._kill_reason} (NOT flat after {self.kill_timeout:g} s)"
                    elif now_loop - last_retry > KILL_RETRY:  # cancels that failed (the venue did not answer)
                        last_retry = now_loop
                        await asyncio.to_thread(self._retry_cancels)
                if self._stop_reason is not None:
                    return
                for w in watchers:
                    if w.done() and not w.cancelled() and w.exception() is not None:
                        w.result()  # a feed failed for good: the run fails with its error
                if all(w.done() for w in watchers) and queue.empty():
                    return  # every feed ended: completed
                if getter is None:
                    getter = asyncio.ensure_future(queue.get())
                if waker is None:
                    self._wake.clear()
                    waker = asyncio.ensure_future(self._wake.wait())
                done, _ = await asyncio.wait(
                    {getter, waker}, timeout=self.control_interval, return_when=asyncio.FIRST_COMPLETED
                )
                if waker in done:
                    waker = None
                if getter in done:
                    feed, batch = getter.result()
                    getter = None
                    await self._take(feed, batch)
                    while not queue.empty():
                        feed, batch = queue.get_nowait()
                        await self._take(feed, batch)
                    steps = self._ready_steps()
                    if steps:
                        await asyncio.to_thread(self._run_steps, steps, True)
                        await self._notify()
                if self.kill_file is not None and self._kill_reason is None and self.kill_file.exists():
                    self._kill_reason = f"kill file {self.kill_file}"
                    log.warning("kill file %s found: engaging the kill switch", self.kill_file)
                    self.kill_file.unlink(missing_ok=True)  # acted upon: it must not kill a later run
                now_loop = asyncio.get_running_loop().time()
                if self.listener is not None and now_loop - last_beat >= self.heartbeat_interval:
                    last_beat = now_loop
                    await asyncio.to_thread(self.listener.on_heartbeat, self.clock.now())
        finally:
            for task in (*watchers, getter, waker):
                if task is not None:
                    task.cancel()
            if watchers:  # a feed that ignores its cancel must not block the stop
                ended, stuck = await asyncio.wait(watchers, timeout=5.0)
                for watcher in ended:
                    if not watcher.cancelled():
                        watcher.exception()  # retrieved: a feed's error after the stop is not news
                if stuck:
                    log.warning("%d feed task(s) did not end 5 s after being cancelled; stopping anyway", len(stuck))

    async def _pump(self, feed: BarFeed, queue: asyncio.Queue[tuple[BarFeed, list[Bar]]]) -> None:
        async for batch in feed.watch(self._frontier[feed.symbol]):
            await queue.put((feed, batch))

    async def _take(self, feed: BarFeed, batch: list[Bar]) -> None:
        """Accept a batch from the stream: drop repeats, fill a hole before it from the exchange's history."""
        symbol = feed.symbol
        fresh = sorted((b for b in batch if b.ts > self._frontier[symbol]), key=lambda b: b.ts)
        dropped = len(batch) - len(fresh)
        if dropped:
            log.debug("%s: %d bar(s) already seen dropped", symbol, dropped)
        if not fresh:
            return
        expected = self._frontier[symbol] + feed.timeframe
        if fresh[0].ts > expected:
            filled = await feed.history(expected, fresh[0].ts)
            if filled:
                log.warning(
                    "%s: the stream skipped from %s to %s; filled %s from the exchange's history",
                    symbol,
                    iso(expected),
                    iso(fresh[0].ts),
                    describe_bars(filled),
                )
            else:
                log.debug("%s: no bars from %s to %s on the exchange either", symbol, iso(expected), iso(fresh[0].ts))
            fresh = filled + fresh
        if fresh:
            await asyncio.to_thread(self._append, fresh)
        self._accept(feed, fresh)

    def _accept(self, feed: BarFeed, bars: list[Bar]) -> None:
        pending = self._pending[feed.symbol]
        frontier = self._frontier[feed.symbol]
        for bar in bars:
            if bar.ts <= frontier or bar.ts < self.start_ts:
                continue
            if bar.symbol != feed.symbol or bar.timeframe != feed.timeframe:
                raise ConfigError(f"the {feed.symbol} feed delivered a bar of {bar.symbol} ({bar.timeframe} ns)")
            pending[bar.ts] = bar
            frontier = bar.ts
        self._frontier[feed.symbol] = frontier

    def _ready_steps(self) -> list[list[Bar]]:
        """Steps every symbol is known up to (each has a bar at that time or later), oldest first."""
        ready_until = min(self._frontier.values())
        times = sorted({ts for pending in self._pending.values() for ts in pending if ts <= ready_until})
        steps = []
        for ts in times:
            step = []
            for feed in self.feeds:  # in the engine's stream order
                bar = self._pending[feed.symbol].pop(ts, None)
                if bar is not None:
                    step.append(bar)
            steps.append(step)
        return steps

    # --------------------------------------------------------------------------------- steps (worker thread)
    def _append(self, bars: list[Bar]) -> None:
        if self.store is None or not bars:
            return
        self.store.append(self.source, series_of(bars))

    def _run_steps(self, steps: list[list[Bar]], live: bool) -> None:
        engine = self.engine
        for step in steps:
            if self._stop_reason is not None:
                return
            ts = step[0].ts
            if self.last_ts is not None and ts <= self.last_ts:
                continue  # never twice, never backwards
            for bar in step:
                engine.push_bar(bar)
            engine.flush()
            self.last_ts = ts
            if self.first_ts is None:
                self.first_ts = ts
            if live:
                self.live_bars += 1
            else:
                self.warmup_bars += 1
            if self.listener is not None:
                self.listener.on_step(ts, live)
            if self.until_ts is not None and ts >= self.until_ts and self._stop_reason is None:
                self._stop_reason = f"reached {iso(self.until_ts)}"
                self._stop_status = COMPLETED

    def _retry_cancels(self) -> None:
        for order in list(self.engine.open.values()):
            if order.role != "kill_switch":
                self.engine.cancel(order, f"kill switch: {self._kill_reason} (again)")

    def _engage_kill(self, reason: str) -> None:
        log.warning("kill switch: %s: cancelling every order and flattening every position", reason)
        self.engine.kill_switch(reason)
        self._killing = True
        if self.listener is not None:
            self.listener.on_kill(reason)

    def _flat(self) -> bool:
        """No open order and no position of a lot or more (less is dust a venue will not trade)."""
        engine = self.engine
        if engine.open:
            return False
        lots = {s: i.lot_size for s, i in engine.instruments.items()}
        return all(
            abs(pos.qty) < lots.get(symbol, 0.0) or pos.qty == 0.0
            for book in engine.portfolio.books.values()
            for symbol, pos in book.positions.items()
        )
