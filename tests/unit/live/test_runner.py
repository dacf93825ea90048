"""The live runner on known bars (a replay feed and a clock the test moves): warm-up then live bars through the same
engine a backtest uses, no repeated and no missing bar, several symbols in step, and every way a run ends."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import numpy as np
import pytest

from tradeforge.core.bars import BarSeries
from tradeforge.core.errors import ConfigError
from tradeforge.core.events import Bar
from tradeforge.core.fees import MakerTakerFee
from tradeforge.core.strategy import Strategy
from tradeforge.core.types import Instrument, OrderStatus
from tradeforge.data import load_sample
from tradeforge.live.clock import ManualClock
from tradeforge.live.feed import FeedError, ReplayFeed, bars_of
from tradeforge.live.paper import PaperConfig, build_paper_engine, open_paper_run
from tradeforge.live.runner import LiveRunner, RunOutcome
from tradeforge.persistence import DeploymentRecord, MemoryStore, RunStatus
from tradeforge.sim.backtest import run_backtest
from tradeforge.strategies.sma_cross import SmaCross

SYM = "BTC/USDT"
INST = Instrument(SYM, tick_size=0.01, lot_size=0.00001, min_notional=5.0, quote_currency="USDT")
MAKER, TAKER = 0.001, 0.002


@pytest.fixture(scope="module")
def btc() -> BarSeries:
    return load_sample("BTC-PERP")


def cut(s: BarSeries, a: int, b: int, symbol: str = SYM) -> BarSeries:
    return BarSeries.from_arrays(
        symbol, s.timeframe, s.ts[a:b], s.open[a:b], s.high[a:b], s.low[a:b], s.close[a:b], s.volume[a:b]
    )


def config(bars: BarSeries, *symbols: str) -> PaperConfig:
    names = symbols or (bars.symbol,)
    insts = tuple(Instrument(s, tick_size=0.01, lot_size=0.00001, min_notional=5.0) for s in names)
    return PaperConfig(names, bars.timeframe, int(bars.ts[0]), 10_000.0, MAKER, TAKER, instruments=insts)


def deployment(uows: MemoryStore, name: str = "sma") -> DeploymentRecord:
    with uows() as uow:
        dep = uow.deployments.add(DeploymentRecord(name, "sma_cross", {"fast": 5, "slow": 15}, (SYM,), ("1m",)))
        uow.commit()
    return dep


async def drive(runner: LiveRunner, clock: ManualClock, bars: BarSeries, first: int, stop: int) -> None:
    """Close bars first..stop-1 one at a time, waiting for the runner to run each."""
    tf = bars.timeframe
    for k in range(first, stop):
        clock.set(int(bars.ts[k]) + tf)
        await runner.wait_for_step(int(bars.ts[k]))


def orders_of(orders: Sequence[object]) -> list[tuple[object, ...]]:
    return [(o.id, o.side, o.qty, o.status, o.avg_fill_price, o.fees, o.created_ts) for o in orders]  # type: ignore[attr-defined]


def trades_of(trades: Sequence[object]) -> list[tuple[object, ...]]:
    return [
        (t.entry_ts, t.exit_ts, t.size, t.entry_price, t.exit_price, t.entry_fee, t.exit_fee)  # type: ignore[attr-defined]
        for t in trades
    ]


# ------------------------------------------------------------------------------------------- warm-up and live
def test_warm_up_then_live_bars_give_the_orders_and_trades_of_a_backtest(btc: BarSeries) -> None:
    bars = cut(btc, 0, 400)
    backtest = run_backtest(
        SmaCross(fast=5, slow=15), bars, cash=10_000, commission=MakerTakerFee(MAKER, TAKER), instruments={SYM: INST}
    )
    assert len(backtest.trades) > 20
    uows = MemoryStore()
    dep = deployment(uows)
    clock = ManualClock(int(bars.ts[250]))  # bars 0..249 have closed: the warm-up; 250..399 arrive live
    feed = ReplayFeed(bars, clock)
    paper = open_paper_run(
        uows, dep, config(bars), [SmaCross(fast=5, slow=15)], [feed], clock=clock, handle_signals=False
    )

    async def main() -> RunOutcome:
        task = asyncio.create_task(paper.run())
        await paper.runner.wait_for_step(int(bars.ts[249]))  # the warm-up is over
        await drive(paper.runner, clock, bars, 250, 400)
        paper.runner.stop("enough")
        return await task

    outcome = asyncio.run(main())
    assert (outcome.status, outcome.warmup_bars, outcome.live_bars) == ("stopped", 250, 150)
    engine = paper.engine
    assert orders_of(engine.orders) == orders_of(backtest.orders)
    assert trades_of(engine.portfolio.all_trades()) == trades_of(backtest.trades)
    assert engine.step_ts == bars.ts.tolist()  # every bar once, in order
    with uows() as uow:
        stored = uow.trades.list(deployment_id=dep.id)
        assert [(t.entry_ts, t.size, t.entry_price, t.exit_price) for t in stored] == [
            (t.entry_ts, t.size, t.entry_price, None if t.is_open else t.exit_price) for t in backtest.trades
        ]
        closed = [t for t in backtest.trades if not t.is_open]
        assert [t.realized_pnl for t in stored if not t.is_open] == pytest.approx([t.pnl for t in closed])
        run = uow.runs.get(paper.record.id or 0)
        assert (run.status, run.stop_reason) == (RunStatus.STOPPED, "enough")
        curve = uow.snapshots.equity(run.id or 0)
        assert [s.ts for s in curve][-150:] == bars.ts[250:].tolist()  # a snapshot at every live bar
        equity = dict(zip(backtest.timestamps.tolist(), backtest.equity.tolist(), strict=True))
        assert [s.equity for s in curve] == pytest.approx([equity[s.ts] for s in curve])


class Tape(Strategy):
    """Remembers the bars it saw."""

    def on_start(self) -> None:
        self.seen: list[tuple[str, int]] = []

    def on_bar(self) -> None:
        for symbol in self.symbols:
            view = self.data_for(symbol)
            if len(view) and int(view.ts[-1]) == self.now:
                self.seen.append((symbol, self.now))


def plain_runner(
    bars: Sequence[BarSeries], clock: ManualClock, feeds: Sequence[ReplayFeed], **kw: object
) -> tuple[LiveRunner, Tape]:
    cfg = PaperConfig(tuple(b.symbol for b in bars), bars[0].timeframe, int(bars[0].ts[0]))
    strategy = Tape()
    engine, _ = build_paper_engine([strategy], cfg)
    return LiveRunner(engine, feeds, clock=clock, start_ts=int(bars[0].ts[0]), handle_signals=False, **kw), strategy  # type: ignore[arg-type]


def test_repeated_bars_are_dropped_and_a_hole_is_filled_from_the_exchange(btc: BarSeries) -> None:
    bars = cut(btc, 0, 12)
    tf = bars.timeframe
    clock = ManualClock(int(bars.ts[3]))
    feed = ReplayFeed(bars, clock, auto=False)
    runner, tape = plain_runner([bars], clock, [feed])
    b = bars_of(bars)

    async def main() -> RunOutcome:
        task = asyncio.create_task(runner.run())
        await runner.wait_for_step(int(bars.ts[2]))  # the warm-up: bars 0..2
        clock.set(int(bars.ts[8]) + tf)
        feed.push([b[2], b[3]])  # 2 again (already run at the switch), then 3
        feed.push([b[3]])  # a repeat
        feed.push([b[6]])  # 4 and 5 were lost: filled from the exchange's history
        feed.push([b[5], b[6], b[7]])  # late and repeated
        await runner.wait_for_step(int(bars.ts[7]))
        feed.push([b[8]])
        await runner.wait_for_step(int(bars.ts[8]))
        runner.stop()
        return await task

    outcome = asyncio.run(main())
    assert outcome.warmup_bars == 3 and outcome.live_bars == 6
    assert [ts for _, ts in tape.seen] == bars.ts[:9].tolist()
    assert (int(bars.ts[4]), int(bars.ts[6])) in feed.history_calls


def test_a_step_runs_once_every_symbol_has_its_bar_or_a_later_one(btc: BarSeries) -> None:
    a = cut(btc, 0, 6, "A")
    keep = np.array([0, 1, 3, 4, 5])  # B has no bar at 2
    b = BarSeries.from_arrays(
        "B",
        btc.timeframe,
        btc.ts[keep],
        btc.open[keep],
        btc.high[keep],
        btc.low[keep],
        btc.close[keep],
        btc.volume[keep],
    )
    tf = a.timeframe
    clock = ManualClock(int(a.ts[1]))  # bar 0 closed: warm-up
    fa, fb = ReplayFeed(a, clock, auto=False), ReplayFeed(b, clock, auto=False)
    runner, tape = plain_runner([a, b], clock, [fa, fb])
    ba, bb = bars_of(a), bars_of(b)

    async def main() -> None:
        task = asyncio.create_task(runner.run())
        await runner.wait_for_step(int(a.ts[0]))
        clock.set(int(a.ts[4]) + tf)
        fa.push([ba[1]])
        await asyncio.sleep(0.05)
        assert runner.last_ts == int(a.ts[0])  # B's bar 1 is not there yet
        fb.push([bb[1]])
        await runner.wait_for_step(int(a.ts[1]))
        fa.push([ba[2], ba[3]])
        await asyncio.sleep(0.05)
        assert runner.last_ts == int(a.ts[1])
        fb.push([bb[2]])  # B's next bar is at 3: it had none at 2
        await runner.wait_for_step(int(a.ts[3]))
        runner.stop()
        await task

    asyncio.run(main())
    ts = a.ts.tolist()
    assert tape.seen == [
        ("A", ts[0]),
        ("B", ts[0]),
        ("A", ts[1]),
        ("B", ts[1]),
        ("A", ts[2]),
        ("A", ts[3]),
        ("B", ts[3]),
    ]


# ------------------------------------------------------------------------------------------------ run endings
def test_sigterm_stops_the_run_and_the_stop_is_recorded(btc: BarSeries) -> None:
    bars = cut(btc, 0, 60)
    uows = MemoryStore()
    dep = deployment(uows)
    clock = ManualClock(int(bars.ts[20]))
    paper = open_paper_run(uows, dep, config(bars), [SmaCross(fast=5, slow=15)], [ReplayFeed(bars, clock)], clock=clock)

    async def main() -> RunOutcome:
        task = asyncio.create_task(paper.run())
        await paper.runner.wait_for_step(int(bars.ts[19]))
        await drive(paper.runner, clock, bars, 20, 30)
        os.kill(os.getpid(), signal.SIGTERM)
        return await asyncio.wait_for(task, 5)

    outcome = asyncio.run(main())
    assert (outcome.status, outcome.reason) == ("stopped", "signal SIGTERM")
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # the handler is gone with the run
    with uows() as uow:
        run = uow.runs.get(paper.record.id or 0)
    assert (run.status, run.stop_reason) == (RunStatus.STOPPED, "signal SIGTERM")


def test_until_ts_and_an_ending_feed_complete_the_run(btc: BarSeries) -> None:
    bars = cut(btc, 0, 30)
    tf = bars.timeframe
    clock = ManualClock(int(bars.ts[10]))
    runner, _ = plain_runner([bars], clock, [ReplayFeed(bars, clock)], until_ts=int(bars.ts[15]))

    async def main(r: LiveRunner) -> RunOutcome:
        task = asyncio.create_task(r.run())
        await r.wait_for_step(int(bars.ts[9]))
        clock.set(int(bars.ts[-1]) + tf)
        return await asyncio.wait_for(task, 5)

    outcome = asyncio.run(main(runner))
    assert outcome.status == "completed" and outcome.last_ts == int(bars.ts[15])
    assert outcome.reason.startswith("reached")

    clock = ManualClock(int(bars.ts[10]))
    ending = ReplayFeed(bars, clock, end_ts=int(bars.ts[-1]) + tf)
    runner, _ = plain_runner([bars], clock, [ending])
    outcome = asyncio.run(main(runner))
    assert (outcome.status, outcome.reason, outcome.live_bars) == ("completed", "the feeds ended", 20)


class BrokenFeed(ReplayFeed):
    async def watch(self, after: int) -> AsyncIterator[list[Bar]]:
        raise FeedError("the exchange is gone for good")
        yield []  # pragma: no cover - makes this an async generator


def test_a_feed_that_fails_for_good_fails_the_run_and_says_why(btc: BarSeries) -> None:
    bars = cut(btc, 0, 40)
    uows = MemoryStore()
    dep = deployment(uows)
    clock = ManualClock(int(bars.ts[20]))
    paper = open_paper_run(
        uows, dep, config(bars), [SmaCross(fast=5, slow=15)], [BrokenFeed(bars, clock)], clock=clock,
        handle_signals=False,
    )  # fmt: skip
    with pytest.raises(FeedError, match="gone for good"):
        asyncio.run(paper.run())
    with uows() as uow:
        run = uow.runs.get(paper.record.id or 0)
    assert run.status is RunStatus.FAILED and "FeedError: the exchange is gone for good" in run.stop_reason


class BuyOnce(Strategy):
    def on_bar(self) -> None:
        if not self.position() and not self.orders and not self.closed_trades:
            self.buy(0.05, tp=10_000_000.0)  # with a take-profit that never fills: a working order at the kill


def test_a_kill_file_cancels_flattens_and_stops_and_the_deployment_stays_killed(btc: BarSeries, tmp_path: Path) -> None:
    bars = cut(btc, 0, 40)
    uows = MemoryStore()
    dep = deployment(uows)
    clock = ManualClock(int(bars.ts[10]))
    kill_file = tmp_path / "sma.kill"
    paper = open_paper_run(
        uows, dep, config(bars), [BuyOnce()], [ReplayFeed(bars, clock)], clock=clock, kill_file=kill_file,
        handle_signals=False,
    )  # fmt: skip

    async def main() -> RunOutcome:
        task = asyncio.create_task(paper.run())
        await paper.runner.wait_for_step(int(bars.ts[9]))
        await drive(paper.runner, clock, bars, 10, 15)
        assert paper.engine.portfolio.books["BuyOnce"].position(SYM).qty == pytest.approx(0.05)
        kill_file.write_text("")
        await asyncio.sleep(0.3)  # the runner notices, cancels the take-profit and sends the flattening order
        await drive(paper.runner, clock, bars, 15, 17)  # it fills at the next bar's open
        return await asyncio.wait_for(task, 5)

    outcome = asyncio.run(main())
    assert outcome.status == "stopped" and outcome.reason == f"kill switch: kill file {kill_file}"
    with uows() as uow:
        orders = uow.orders.list(deployment_id=dep.id)
        assert [(o.role, o.status) for o in orders] == [
            ("entry", OrderStatus.FILLED),
            ("take_profit", OrderStatus.CANCELLED),
            ("kill_switch", OrderStatus.FILLED),
        ]
        assert uow.trades.open_trades(deployment_id=dep.id) == []
        assert not uow.deployments.get(dep.id or 0).enabled
    with pytest.raises(ConfigError, match="was killed"):
        open_paper_run(uows, dep, config(bars), [BuyOnce()], [ReplayFeed(bars, clock)], clock=clock)


def test_sigusr1_engages_the_kill_switch(btc: BarSeries) -> None:
    bars = cut(btc, 0, 40)
    uows = MemoryStore()
    dep = deployment(uows)
    clock = ManualClock(int(bars.ts[10]))
    paper = open_paper_run(uows, dep, config(bars), [BuyOnce()], [ReplayFeed(bars, clock)], clock=clock)

    async def main() -> RunOutcome:
        task = asyncio.create_task(paper.run())
        await paper.runner.wait_for_step(int(bars.ts[9]))
        await drive(paper.runner, clock, bars, 10, 15)
        os.kill(os.getpid(), signal.SIGUSR1)
        await asyncio.sleep(0.3)
        await drive(paper.runner, clock, bars, 15, 17)
        return await asyncio.wait_for(task, 5)

    outcome = asyncio.run(main())
    assert (outcome.status, outcome.reason) == ("stopped", "kill switch: signal SIGUSR1")
    assert signal.getsignal(signal.SIGUSR1) is signal.SIG_DFL
    with uows() as uow:
        assert uow.trades.open_trades(deployment_id=dep.id) == []
        assert [o.role for o in uow.orders.list(deployment_id=dep.id)] == ["entry", "take_profit", "kill_switch"]


def test_a_runner_refuses_feeds_that_do_not_match_its_engine(btc: BarSeries) -> None:
    bars = cut(btc, 0, 10)
    clock = ManualClock(int(bars.ts[5]))
    cfg = PaperConfig((SYM,), bars.timeframe, int(bars.ts[0]))
    engine, _ = build_paper_engine([Tape()], cfg)
    with pytest.raises(ConfigError, match="at least one bar feed"):
        LiveRunner(engine, [], clock=clock, start_ts=0)
    with pytest.raises(ConfigError, match="no stream for OTHER"):
        LiveRunner(engine, [ReplayFeed(cut(btc, 0, 10, "OTHER"), clock)], clock=clock, start_ts=0)
    hourly = BarSeries.from_arrays(SYM, 3_600_000_000_000, [0], [1.0], [1.0], [1.0], [1.0])
    with pytest.raises(ConfigError, match="time frame"):
        LiveRunner(engine, [ReplayFeed(hourly, clock)], clock=clock, start_ts=0)
    with pytest.raises(ConfigError, match="source name"):
        LiveRunner(engine, [ReplayFeed(bars, clock)], clock=clock, start_ts=0, store=object())  # type: ignore[arg-type]
