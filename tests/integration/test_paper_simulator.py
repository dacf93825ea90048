"""Paper trading against the local exchange simulator, through ccxt's real client over 127.0.0.1, recorded in SQL.

The simulator replays the bundled BTC-PERP 1m bars as BTC/USDT. The paper run warms up from the bar store (bars
A..W-1), then from the exchange's history (W..S-1, REST klines), then trades live bars (S..) as the test closes them
one by one on the simulator (watch_ohlcv tells a bar has closed; its final values come from REST). The orders,
fills and trades it stores must be those of run_backtest on the same bars with the same fill model, after a
restart too, and after the stream drops. On SQLite, and on PostgreSQL when TRADEFORGE_TEST_DATABASE_URL is set.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("ccxt")
pytest.importorskip("aiohttp")

from tradeforge.core.bars import BarSeries
from tradeforge.core.fees import MakerTakerFee
from tradeforge.core.types import Instrument
from tradeforge.data import load_sample
from tradeforge.data.store import BarStore
from tradeforge.live.clock import FunctionClock
from tradeforge.live.feed import CcxtFeed
from tradeforge.live.paper import PaperConfig, PaperRun, open_paper_run
from tradeforge.live.runner import RunOutcome
from tradeforge.live.simulator import ExchangeSimulator
from tradeforge.persistence import DeploymentRecord, RunStatus, UnitOfWorkFactory
from tradeforge.persistence.testing import ScratchDatabase, available_backends, scratch_database
from tradeforge.sim.backtest import run_backtest
from tradeforge.sim.result import Result
from tradeforge.strategies.sma_cross import SmaCross

SYM = "BTC/USDT"
A, W, S, N = 800, 900, 1000, 150  # store: A..W-1; exchange history: W..S-1; live: S..S+N-1
MAKER, TAKER = 0.001, 0.002
NS_PER_MS = 1_000_000
INST = Instrument(SYM, tick_size=0.01, lot_size=0.00001, min_notional=5.0, quote_currency="USDT")
PARAMS = {"fast": 5, "slow": 15}


@pytest.fixture(scope="module")
def btc() -> BarSeries:
    return load_sample("BTC-PERP")


def cut(s: BarSeries, a: int, b: int) -> BarSeries:
    return BarSeries.from_arrays(
        SYM, s.timeframe, s.ts[a:b], s.open[a:b], s.high[a:b], s.low[a:b], s.close[a:b], s.volume[a:b]
    )


@pytest.fixture(params=available_backends())
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ScratchDatabase]:
    with scratch_database(request.param, tmp_path) as scratch:
        yield scratch


@pytest.fixture
def store(btc: BarSeries, tmp_path: Path) -> BarStore:
    bars = BarStore(tmp_path / "bars")
    bars.write("simulator", cut(btc, A, W))
    return bars


@pytest.fixture
def sim(btc: BarSeries) -> Iterator[ExchangeSimulator]:
    with ExchangeSimulator(btc, start=S, maker_fee=MAKER, taker_fee=TAKER, push_interval=0.2) as s:
        yield s


def backtest(btc: BarSeries, end: int) -> Result:
    return run_backtest(
        SmaCross(**PARAMS), cut(btc, A, end), cash=10_000.0, commission=MakerTakerFee(MAKER, TAKER),
        instruments={SYM: INST},
    )  # fmt: skip


def deploy(uows: UnitOfWorkFactory) -> DeploymentRecord:
    with uows() as uow:
        dep = uow.deployments.add(DeploymentRecord("btc-sma", "sma_cross", PARAMS, (SYM,), ("1m",), "paper"))
        uow.commit()
    return dep


async def session(
    sim: ExchangeSimulator, uows: UnitOfWorkFactory, dep: DeploymentRecord, store: BarStore, btc: BarSeries,
    close: int, *, during: Any = None, **feed: Any,
) -> tuple[PaperRun, RunOutcome]:  # fmt: skip
    """One paper process: start (or resume), warm up, close `close` bars on the simulator one at a time (calling
    during(k) before the k-th), stop."""
    clock = FunctionClock(lambda: sim.now_ms * NS_PER_MS)
    config = PaperConfig((SYM,), btc.timeframe, int(btc.ts[A]), 10_000.0, MAKER, TAKER, instruments=(INST,))
    exchange = sim.ccxt_exchange(pro=True)
    try:
        feeds = [CcxtFeed(exchange, SYM, "1m", clock=clock, **{"poll_interval": 0.2, **feed})]
        paper = open_paper_run(
            uows, dep, config, [SmaCross(**PARAMS)], feeds, clock=clock, store=store, source="simulator",
            handle_signals=False,
        )  # fmt: skip
        task = asyncio.create_task(paper.run())
        await paper.runner.wait_for_step(clock.now() - btc.timeframe, timeout=30)  # warmed up to the last close
        for k in range(close):
            if during is not None:
                during(k)
            opening = sim.now_ms * NS_PER_MS
            await asyncio.to_thread(sim.advance)
            await paper.runner.wait_for_step(opening, timeout=15)
        paper.runner.stop("test over")
        return paper, await task
    finally:
        await exchange.close()


def assert_same_as_backtest(uows: UnitOfWorkFactory, dep: DeploymentRecord, result: Result) -> None:
    with uows() as uow:
        orders = uow.orders.list(deployment_id=dep.id)
        fills = uow.orders.list_fills(deployment_id=dep.id)
        trades = uow.trades.list(deployment_id=dep.id)
    assert len(result.trades) >= 10
    assert [(o.local_id, o.side, o.type, o.status, o.filled_qty, o.avg_fill_price, o.fees) for o in orders] == [
        (o.id, o.side, o.type, o.status, o.filled_qty, None if o.filled_qty == 0 else o.avg_fill_price, o.fees)
        for o in result.orders
    ]
    assert len({o.client_order_id for o in orders}) == len(orders)
    assert [(f.ts, f.qty, f.price, f.fee) for f in fills] == [(f.ts, f.qty, f.price, f.fee) for f in result.fills]
    assert [(t.entry_ts, t.size, t.entry_price, t.exit_ts, t.exit_price) for t in trades] == [
        (t.entry_ts, t.size, t.entry_price, None if t.is_open else t.exit_ts, None if t.is_open else t.exit_price)
        for t in result.trades
    ]
    assert [t.realized_pnl for t in trades if not t.is_open] == pytest.approx(
        [t.pnl for t in result.trades if not t.is_open], rel=1e-12
    )


def test_paper_trading_on_the_simulator_makes_the_orders_and_trades_of_the_backtest(
    sim: ExchangeSimulator, db: ScratchDatabase, store: BarStore, btc: BarSeries
) -> None:
    uows = db.uow_factory()
    dep = deploy(uows)
    paper, outcome = asyncio.run(session(sim, uows, dep, store, btc, N))
    assert (outcome.status, outcome.warmup_bars, outcome.live_bars) == ("stopped", S - A, N)
    result = backtest(btc, S + N)
    assert_same_as_backtest(uows, dep, result)
    assert paper.engine.step_ts == btc.ts[A : S + N].tolist()  # no gap, no double bar at the switch
    kept = store.read("simulator", SYM, "1m")
    assert kept.ts.tolist() == btc.ts[A : S + N].tolist() and kept.close.tolist() == btc.close[A : S + N].tolist()
    with uows() as uow:
        run = uow.runs.get(paper.record.id or 0)
        curve = uow.snapshots.equity(run.id or 0)
    assert run.status is RunStatus.STOPPED and run.heartbeat_ts == sim.now_ms * NS_PER_MS
    equity = dict(zip(result.timestamps.tolist(), result.equity.tolist(), strict=True))
    live = [s for s in curve if s.ts >= int(btc.ts[S])]
    assert len(live) == N and [s.equity for s in live] == pytest.approx([equity[s.ts] for s in live], rel=1e-12)


def test_a_restarted_paper_run_ends_with_the_trades_of_an_uninterrupted_one(
    sim: ExchangeSimulator, db: ScratchDatabase, store: BarStore, btc: BarSeries
) -> None:
    uows = db.uow_factory()
    dep = deploy(uows)
    first, _ = asyncio.run(session(sim, uows, dep, store, btc, 60))
    sim.advance(15)  # bars close while no runner is up: the next one catches up on them from the exchange
    second, outcome = asyncio.run(session(sim, uows, dep, store, btc, N - 75))
    assert outcome.warmup_bars == S + 75 - A and outcome.live_bars == N - 75
    assert_same_as_backtest(uows, dep, backtest(btc, S + N))
    with uows() as uow:
        runs = uow.runs.list(deployment_id=dep.id)
        open_trades = uow.trades.open_trades(deployment_id=dep.id)
    assert [r.key for r in runs] == [first.record.key, second.record.key]
    assert [r.status for r in runs] == [RunStatus.STOPPED, RunStatus.STOPPED]
    engine = second.engine
    assert len(open_trades) == len(engine.portfolio.all_trades()) - len(
        engine.portfolio.books["SmaCross"].closed_trades
    )


def test_a_dropped_stream_and_rest_polling_lose_no_bar(
    sim: ExchangeSimulator, db: ScratchDatabase, store: BarStore, btc: BarSeries, caplog: pytest.LogCaptureFixture
) -> None:
    uows = db.uow_factory()
    dep = deploy(uows)

    def drop(k: int) -> None:
        if k in (20, 21, 70):
            sim.inject("disconnect", on="stream")

    with caplog.at_level(logging.WARNING, logger="tradeforge.live.feed"):
        first, _ = asyncio.run(session(sim, uows, dep, store, btc, 100, during=drop))
    assert "the candle stream dropped" in caplog.text
    assert first.engine.step_ts == btc.ts[A : S + 100].tolist()
    # the rest without a websocket at all: REST polling as each bar's close passes
    asyncio.run(session(sim, uows, dep, store, btc, N - 100, stream=False, poll_interval=0.02))
    assert not any(r.startswith("WS") for r in sim.requests()[-(N - 100) :])
    assert_same_as_backtest(uows, dep, backtest(btc, S + N))


def test_a_store_that_begins_after_the_origin_is_completed_from_the_exchange(
    sim: ExchangeSimulator, db: ScratchDatabase, btc: BarSeries, tmp_path: Path
) -> None:
    store = BarStore(tmp_path / "partial")
    store.write("simulator", cut(btc, A + 50, W))  # bars A..A+49 and W..S-1 only the exchange has
    uows = db.uow_factory()
    paper, outcome = asyncio.run(session(sim, uows, deploy(uows), store, btc, 5))
    assert outcome.warmup_bars == S - A and paper.engine.step_ts == btc.ts[A : S + 5].tolist()
    assert store.read("simulator", SYM, "1m").ts.tolist() == btc.ts[A : S + 5].tolist()
