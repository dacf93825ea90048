"""Paper trading: the write-ahead gateway, the paper account settings, and runs that stop, crash and resume with
the orders, fills and trades of a run that never stopped (in-memory repositories; SQL ones in tests/integration)."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import subprocess
import sys
from types import TracebackType
from typing import Any

import pytest

from tradeforge.core.bars import BarSeries
from tradeforge.core.errors import ConfigError
from tradeforge.core.fees import MakerTakerFee
from tradeforge.core.fills import FillModel
from tradeforge.core.orders import Order
from tradeforge.core.types import Instrument, OrderStatus
from tradeforge.data import load_sample
from tradeforge.live.clock import ManualClock
from tradeforge.live.feed import ReplayFeed
from tradeforge.live.paper import PaperConfig, PaperRun, build_paper_engine, open_paper_run
from tradeforge.live.recorder import ResumeError
from tradeforge.persistence import DeploymentRecord, MemoryStore, RunMode, RunRecord, RunStatus
from tradeforge.persistence.protocols import UnitOfWork
from tradeforge.sim.backtest import run_backtest
from tradeforge.strategies.sma_cross import SmaCross

SYM = "BTC/USDT"
INST = Instrument(SYM, tick_size=0.01, lot_size=0.00001, min_notional=5.0, quote_currency="USDT")
MAKER, TAKER = 0.001, 0.002
N, WARM = 300, 150


@pytest.fixture(scope="module")
def bars() -> BarSeries:
    s = load_sample("BTC-PERP")
    return BarSeries.from_arrays(
        SYM, s.timeframe, s.ts[:N], s.open[:N], s.high[:N], s.low[:N], s.close[:N], s.volume[:N]
    )


def account(bars: BarSeries, **changes: Any) -> PaperConfig:
    cfg = PaperConfig((SYM,), bars.timeframe, int(bars.ts[0]), 10_000.0, MAKER, TAKER, instruments=(INST,))
    return dataclasses.replace(cfg, **changes)


def new_deployment(uows: Any) -> DeploymentRecord:
    with uows() as uow:
        dep = uow.deployments.add(DeploymentRecord("sma", "sma_cross", {"fast": 5, "slow": 15}, (SYM,), ("1m",)))
        uow.commit()
    return dep


def start(uows: Any, dep: DeploymentRecord, bars: BarSeries, clock: ManualClock, fast: int = 5, **kw: Any) -> PaperRun:
    return open_paper_run(
        uows, dep, account(bars), [SmaCross(fast=fast, slow=15)], [ReplayFeed(bars, clock)], clock=clock,
        handle_signals=False, **kw,
    )  # fmt: skip


async def play(paper: PaperRun, clock: ManualClock, bars: BarSeries, first: int, stop: int) -> Any:
    """Run the paper run: bars before `first` are its warm-up; bars first..stop-1 close one by one; then stop."""
    task = asyncio.create_task(paper.run())
    await paper.runner.wait_for_step(int(bars.ts[first - 1]))
    for k in range(first, stop):
        clock.set(int(bars.ts[k]) + bars.timeframe)
        await paper.runner.wait_for_step(int(bars.ts[k]))
    paper.runner.stop("test over")
    return await task


def stored(uows: Any, dep: DeploymentRecord) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]], list[str]]:
    with uows() as uow:
        orders = uow.orders.list(deployment_id=dep.id)
        fills = uow.orders.list_fills(deployment_id=dep.id)
        trades = uow.trades.list(deployment_id=dep.id)
    by_order = {}
    for f in fills:
        by_order.setdefault(f.client_order_id, []).append((f.ts, f.qty, f.price, f.fee))
    o = [
        (r.local_id, r.side, r.qty, r.status, r.avg_fill_price, r.fees, by_order.get(r.client_order_id)) for r in orders
    ]
    t = [(r.local_id, r.entry_ts, r.size, r.entry_price, r.exit_ts, r.exit_price, r.realized_pnl) for r in trades]
    return o, t, [r.client_order_id for r in orders]


def test_the_gateway_stores_each_order_before_the_broker_takes_it(bars: BarSeries) -> None:
    seen: list[tuple[int, OrderStatus, bool]] = []

    class Journal:
        def before_send(self, order: Order) -> None:
            seen.append((order.id, order.status, order in gateway.working))

    cfg = account(bars, fill_timing="close")
    engine, gateway = build_paper_engine([SmaCross(fast=5, slow=15)], cfg)
    gateway.journal = Journal()
    for k in range(120):
        engine.push_bar(ReplayFeed(bars, ManualClock(0)).bars[k])
        engine.flush()
    assert seen and [s[0] for s in seen] == [o.id for o in engine.orders if o.status is not OrderStatus.REJECTED]
    assert all(status is OrderStatus.SUBMITTED and not working for _, status, working in seen)
    assert isinstance(gateway.fill_model, FillModel) and gateway.fill_model.timing.value == "close"


def test_the_paper_account_round_trips_through_the_run_record_and_checks_itself(bars: BarSeries) -> None:
    cfg = account(bars)
    assert PaperConfig.from_info(cfg.to_info()) == cfg
    assert cfg.differences(account(bars, origin_ts=0)) == []
    assert cfg.differences(account(bars, cash=5.0)) == ["cash: 5.0 stored, 10000.0 asked"]
    with pytest.raises(ConfigError, match="next_open or close"):
        account(bars, fill_timing="whenever")
    with pytest.raises(ConfigError, match="does not trade"):
        account(bars, instruments=(Instrument("ETH/USDT"),))
    with pytest.raises(ConfigError, match="unreadable"):
        PaperConfig.from_info({"cash": 1.0})


def test_a_resumed_run_ends_with_the_orders_fills_and_trades_of_one_that_never_stopped(bars: BarSeries) -> None:
    straight = MemoryStore()
    dep = new_deployment(straight)
    clock = ManualClock(int(bars.ts[WARM]))
    asyncio.run(play(start(straight, dep, bars, clock), clock, bars, WARM, N))
    expected = stored(straight, dep)

    uows = MemoryStore()
    dep = new_deployment(uows)
    clock = ManualClock(int(bars.ts[WARM]))
    first = start(uows, dep, bars, clock)
    asyncio.run(play(first, clock, bars, WARM, 220))
    clock.set(int(bars.ts[230]))  # down while bars 220..229 closed: the resumed run catches up on them
    second = start(uows, dep, bars, clock)
    outcome = asyncio.run(play(second, clock, bars, 230, N))
    assert outcome.warmup_bars == 230 and outcome.live_bars == N - 230

    orders, trades, cids = stored(uows, dep)
    assert (orders, trades) == expected[:2]
    assert len(set(cids)) == len(cids)
    assert {cid.split("-")[0] for cid in cids} == {f"tf{first.record.key}", f"tf{second.record.key}"}
    backtest = run_backtest(
        SmaCross(fast=5, slow=15), bars, cash=10_000, commission=MakerTakerFee(MAKER, TAKER), instruments={SYM: INST}
    )
    assert [t[1:4] for t in trades] == [(t.entry_ts, t.size, t.entry_price) for t in backtest.trades]
    with uows() as uow:
        runs = uow.runs.list(deployment_id=dep.id)
    assert [(r.status, r.info["resumes"]) for r in runs] == [
        (RunStatus.STOPPED, None),
        (RunStatus.STOPPED, first.record.key),
    ]


class Boom(Exception):
    pass


class _FlakyUow:
    """A unit of work whose commit fails once it has booked a fill: the process dies between the fill and our
    record of it."""

    def __init__(self, inner: UnitOfWork, owner: FlakyStore) -> None:
        self._inner = inner
        self._owner = owner
        self._filled = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    @property
    def orders(self) -> Any:
        outer = self

        class Orders:
            def __getattr__(self, name: str) -> Any:
                return getattr(outer._inner.orders, name)

            def record_fill(self, fill: Any) -> bool:
                outer._filled = True
                return bool(outer._inner.orders.record_fill(fill))

        return Orders()

    def __enter__(self) -> _FlakyUow:
        self._inner.__enter__()
        return self

    def __exit__(self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        self._inner.__exit__(t, e, tb)

    def commit(self) -> None:
        if self._filled and self._owner.armed:
            self._owner.armed = False
            raise Boom("killed between the fill and its record")
        self._inner.commit()


class FlakyStore:
    def __init__(self, store: MemoryStore) -> None:
        self.store = store
        self.armed = True

    def __call__(self) -> Any:
        return _FlakyUow(self.store(), self)


def test_a_crash_between_a_fill_and_its_record_loses_nothing_after_a_restart(bars: BarSeries) -> None:
    straight = MemoryStore()
    dep = new_deployment(straight)
    clock = ManualClock(int(bars.ts[WARM]))
    asyncio.run(play(start(straight, dep, bars, clock), clock, bars, WARM, N))
    expected = stored(straight, dep)

    memory = MemoryStore()
    flaky = FlakyStore(memory)
    dep = new_deployment(memory)
    clock = ManualClock(int(bars.ts[10]))  # the first fill comes live
    with pytest.raises(Boom):
        asyncio.run(play(start(flaky, dep, bars, clock), clock, bars, 10, N))
    with memory() as uow:
        [run] = uow.runs.list(deployment_id=dep.id)
        [order] = uow.orders.list(deployment_id=dep.id)
    assert run.status is RunStatus.FAILED and "Boom" in run.stop_reason
    assert (order.status, order.filled_qty) == (OrderStatus.ACCEPTED, 0.0)  # written ahead and accepted; no fill
    clock = ManualClock(int(bars.ts[WARM]))
    asyncio.run(play(start(memory, dep, bars, clock), clock, bars, WARM, N))
    assert stored(memory, dep)[:2] == expected[:2]


def test_a_run_still_marked_running_is_ended_as_crashed_or_refused(bars: BarSeries) -> None:
    uows = MemoryStore()
    dep = new_deployment(uows)
    clock = ManualClock(int(bars.ts[WARM]))
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    host = os.uname().nodename
    with uows() as uow:
        info = {"paper": account(bars).to_info(), "pid": int(dead.stdout), "host": host}
        gone = uow.runs.add(RunRecord(RunMode.PAPER, clock.now(), dep.id, heartbeat_ts=clock.now(), info=info))
        uow.commit()
    paper = start(uows, dep, bars, clock)  # its process is gone: crashed
    with uows() as uow:
        assert uow.runs.get(gone.id or 0).status is RunStatus.CRASHED
    with pytest.raises(ConfigError, match="already running"):  # this one is alive (it is us) and fresh
        start(uows, dep, bars, clock)
    clock.advance(10 * 60 * 10**9)  # ten minutes without a heartbeat: silent, so crashed
    start(uows, dep, bars, clock)
    with uows() as uow:
        assert uow.runs.get(paper.record.id or 0).status is RunStatus.CRASHED
    start(uows, dep, bars, clock, takeover=True)
    with uows() as uow:
        statuses = [r.status for r in uow.runs.list(deployment_id=dep.id)]
    assert statuses == [RunStatus.CRASHED, RunStatus.CRASHED, RunStatus.CRASHED, RunStatus.RUNNING]


def test_a_deployment_resumes_only_as_it_was(bars: BarSeries) -> None:
    uows = MemoryStore()
    dep = new_deployment(uows)
    clock = ManualClock(int(bars.ts[WARM]))
    asyncio.run(play(start(uows, dep, bars, clock), clock, bars, WARM, 200))
    with pytest.raises(ConfigError, match=r"other settings \(cash: 10000.0 stored, 500.0 asked\)"):
        open_paper_run(
            uows, dep, account(bars, cash=500.0), [SmaCross(fast=5, slow=15)], [ReplayFeed(bars, clock)], clock=clock
        )
    changed = start(uows, dep, bars, clock, fast=7)  # other strategy parameters: other orders
    with pytest.raises(ResumeError, match="does not reproduce order"):
        asyncio.run(changed.run())
    with uows() as uow:
        assert uow.runs.get(changed.record.id or 0).status is RunStatus.FAILED


def test_paper_accounts_carry_risk_limits_into_the_engine(bars: BarSeries) -> None:
    cfg = account(bars, risk={"max_position_value": 100.0, "max_orders_per_minute": 3})
    assert PaperConfig.from_info(cfg.to_info()) == cfg
    assert cfg.differences(account(bars)) == [
        "risk: {} stored, {'max_position_value': 100.0, 'max_orders_per_minute': 3} asked"
    ]
    with pytest.raises(ConfigError, match=r"risk limits: .*unexpected keyword argument 'max_loss'.*known: "):
        account(bars, risk={"max_loss": 5})
    with pytest.raises(ConfigError, match="max_daily_loss must be a positive number"):
        account(bars, risk={"max_daily_loss": -1})
    engine, _ = build_paper_engine([SmaCross(fast=5, slow=15)], cfg)
    feed = ReplayFeed(bars, ManualClock(0))
    for k in range(120):
        engine.push_bar(feed.bars[k])
        engine.flush()
    entries = [o for o in engine.orders if o.role == "entry"]
    assert entries and all(o.status is OrderStatus.REJECTED for o in entries)
    assert all("max_position_value" in o.reject_reason for o in entries if o.qty is not None)


class ScoredCross(SmaCross):
    """SmaCross whose entries come with a (made-up, deterministic) model score; every other one is vetoed."""

    def on_bar(self) -> None:
        from tradeforge.core.strategy import crossover

        up, down = crossover(self.sma_fast, self.sma_slow), crossover(self.sma_slow, self.sma_fast)
        if not (up or down):
            return
        self.n = getattr(self, "n", 0) + 1
        score = 0.4 + 0.1 * (self.n % 3)
        accepted = self.n % 2 == 1
        side = "buy" if up else "sell"
        self.signal(side, reason=f"cross {side}", model="toy", value=score, threshold=0.45, accepted=accepted)
        self.close()
        if accepted:
            (self.buy if up else self.sell)()


def test_signals_and_their_predictions_are_stored_and_linked_to_orders_and_trades(
    bars: BarSeries, tmp_path: Any
) -> None:
    from tradeforge.persistence import SqlUnitOfWorkFactory, open_database
    from tradeforge.service import trading as service

    def run(uows: Any, dep: DeploymentRecord, clock: ManualClock, first: int, stop: int) -> PaperRun:
        paper = open_paper_run(
            uows, dep, account(bars), [ScoredCross(fast=5, slow=15)], [ReplayFeed(bars, clock)], clock=clock,
            handle_signals=False,
        )  # fmt: skip
        asyncio.run(play(paper, clock, bars, first, stop))
        return paper

    url = f"sqlite:///{tmp_path / 'signals.db'}"
    uows = SqlUnitOfWorkFactory(open_database(url))
    dep = new_deployment(uows)
    clock = ManualClock(int(bars.ts[WARM]))
    first = run(uows, dep, clock, WARM, 220)
    second = run(uows, dep, clock, 220, N)  # resumed: the replayed signals are matched, not stored again
    engine_signals = second.engine.signals
    with uows() as uow:
        signals = uow.signals.list(deployment_id=dep.id)
        trades = uow.trades.list(deployment_id=dep.id)
        orders = uow.orders.list(deployment_id=dep.id)
        predictions = [uow.predictions.for_signal(s.id or 0) for s in signals]
    assert len(engine_signals) >= 6 and len(signals) == len(engine_signals)
    assert [(s.ts, s.side.name, s.status.value, s.data["local_id"]) for s in signals] == [
        (s.ts, s.side.name, "accepted" if s.accepted else "rejected", s.id) for s in engine_signals
    ]
    assert all(len(p) == 1 and p[0].model == "toy" and p[0].threshold == 0.45 for p in predictions)
    assert [p[0].value for p in predictions] == pytest.approx([s.value for s in engine_signals])
    accepted = {s.id for s in signals if s.status.value == "accepted"}
    entries = [o for o in orders if o.role == "entry"]
    assert entries and all(o.signal_id in accepted for o in entries)
    assert trades and all(t.signal_id in accepted and t.prediction_id is not None for t in trades)
    assert first.record.key != second.record.key
    rows = service.trades(url, dep.name, limit=1000)  # what `tradeforge trades` shows
    assert len(rows) == len(trades)
    assert all(r.signal.endswith("accepted (cross buy)") or r.signal.endswith("accepted (cross sell)") for r in rows)
    assert all(r.prediction.startswith("toy ") and r.prediction.endswith(" accepted") for r in rows)
