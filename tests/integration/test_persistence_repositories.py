"""The repository contract, run on every store: memory, SQLite, and PostgreSQL when TRADEFORGE_TEST_DATABASE_URL
is set (then each test gets a schema of its own, dropped afterwards)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest

from tradeforge.core.errors import DataError, IllegalTransition
from tradeforge.core.trades import Trade
from tradeforge.core.types import OrderStatus, OrderType, Side
from tradeforge.persistence import (
    DeploymentRecord,
    DuplicateClientOrderId,
    DuplicateRecord,
    EquitySnapshot,
    FillRecord,
    MemoryStore,
    OrderRecord,
    PositionSnapshot,
    PredictionRecord,
    RecordNotFound,
    RunMode,
    RunRecord,
    RunStatus,
    SignalKind,
    SignalRecord,
    SignalStatus,
    TradeRecord,
    UnitOfWork,
    UnitOfWorkFactory,
    make_client_order_id,
)
from tradeforge.persistence.testing import available_backends, scratch_database

S = OrderStatus
T0 = 1_704_067_200_000_000_000
MIN = 60_000_000_000


@pytest.fixture(params=["memory", *available_backends()])
def uows(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[UnitOfWorkFactory]:
    if request.param == "memory":
        yield MemoryStore()
        return
    with scratch_database(request.param, tmp_path) as db:
        yield db.uow_factory()


def deploy(uow: UnitOfWork, name: str = "sma-btc", account: str = "binance:main") -> DeploymentRecord:
    return uow.deployments.add(
        DeploymentRecord(
            name,
            "tradeforge.strategies.SmaCross",
            {"fast": 10, "slow": 30},
            ("BTC/USDT",),
            ("1m",),
            account,
            created_ts=T0,
            updated_ts=T0,
        )
    )


def start(uow: UnitOfWork, deployment: DeploymentRecord | None, mode: RunMode = RunMode.LIVE) -> RunRecord:
    return uow.runs.add(RunRecord(mode, T0, None if deployment is None else deployment.id))


def order(run: RunRecord, seq: int, **kw: object) -> OrderRecord:
    args: dict[str, object] = dict(
        client_order_id=make_client_order_id(run.key, seq),
        run_id=run.id,
        strategy="sma",
        symbol="BTC/USDT",
        side=Side.BUY,
        type=OrderType.LIMIT,
        qty=2.0,
        created_ts=T0 + seq,
        limit=40_000.0,
        local_id=seq,
    )
    args.update(kw)
    return OrderRecord(**args)


@pytest.fixture
def setup(uows: UnitOfWorkFactory) -> tuple[UnitOfWorkFactory, DeploymentRecord, RunRecord]:
    with uows() as uow:
        dep = deploy(uow)
        run = start(uow, dep)
        uow.commit()
    return uows, dep, run


# --------------------------------------------------------------------------------------------- deployments
def test_deployments(uows: UnitOfWorkFactory) -> None:
    with uows() as uow:
        dep = deploy(uow)
        deploy(uow, "other", "paper")
        uow.commit()
    with uows() as uow:
        got = uow.deployments.get(dep.id)
        assert got == dep and got.parameters == {"fast": 10, "slow": 30} and got.symbols == ("BTC/USDT",)
        assert uow.deployments.by_name("sma-btc") == dep and uow.deployments.by_name("nope") is None
        with pytest.raises(DuplicateRecord, match="already named"):
            deploy(uow)
        updated = uow.deployments.update(dataclasses.replace(dep, parameters={"fast": 5}, enabled=False))
        assert [d.name for d in uow.deployments.list()] == ["other", "sma-btc"]
        assert [d.name for d in uow.deployments.list(enabled=True)] == ["other"]
        uow.commit()
    with uows() as uow:
        assert uow.deployments.get(dep.id) == updated
        with pytest.raises(RecordNotFound):
            uow.deployments.get(999)


# ---------------------------------------------------------------------------------------------------- runs
def test_runs_start_heartbeat_and_end_once(uows: UnitOfWorkFactory) -> None:
    with uows() as uow:
        dep = deploy(uow)
        backtest = start(uow, None, RunMode.BACKTEST)
        live = start(uow, dep)
        assert live.key and live.key != backtest.key and live.status is RunStatus.RUNNING
        with pytest.raises(DuplicateRecord, match="key"):
            uow.runs.add(RunRecord(RunMode.PAPER, T0, key=live.key))
        with pytest.raises(RecordNotFound, match="deployment"):
            uow.runs.add(RunRecord(RunMode.PAPER, T0, deployment_id=999))
        uow.runs.heartbeat(live.id, T0 + MIN)
        uow.commit()
    with uows() as uow:
        assert uow.runs.get(live.id).heartbeat_ts == T0 + MIN
        assert uow.runs.by_key(live.key) == dataclasses.replace(live, heartbeat_ts=T0 + MIN)
        ended = uow.runs.finish(live.id, RunStatus.STOPPED, T0 + 2 * MIN, "SIGTERM")
        assert (ended.status, ended.stopped_ts, ended.stop_reason) == (RunStatus.STOPPED, T0 + 2 * MIN, "SIGTERM")
        with pytest.raises(IllegalTransition):
            uow.runs.finish(live.id, RunStatus.CRASHED, T0, "")
        with pytest.raises(IllegalTransition):
            uow.runs.heartbeat(live.id, T0)
        uow.commit()
    with uows() as uow:
        assert [r.id for r in uow.runs.list(deployment_id=dep.id)] == [live.id]
        assert [r.id for r in uow.runs.list(mode=RunMode.BACKTEST)] == [backtest.id]
        assert [r.id for r in uow.runs.list(status=RunStatus.RUNNING)] == [backtest.id]
        assert uow.runs.get(live.id).status is RunStatus.STOPPED


# ---------------------------------------------------------------------------------------- signals, predictions
def test_signals_block_their_window_whatever_the_decision(setup: tuple) -> None:
    uows, dep, run = setup
    with uows() as uow:
        sig = uow.signals.add(
            SignalRecord(run.id, "sma", "BTC/USDT", Side.BUY, T0, T0, T0 + 60 * MIN, price=40_000.0, data={"rsi": 28.5})
        )
        assert sig.deployment_id == dep.id and sig.status is SignalStatus.PENDING
        pred = uow.predictions.add(
            PredictionRecord(
                run.id,
                "lgbm-v3",
                T0 + 1,
                0.41,
                "3",
                sig.id,
                threshold=0.55,
                accepted=False,
                label="hold",
                details={"features": 12},
            )
        )
        rejected = uow.signals.decide(sig.id, SignalStatus.REJECTED, ts=T0 + 1, reason="model: 0.41 < 0.55")
        uow.commit()
    with uows() as uow:
        assert uow.signals.get(sig.id) == rejected
        assert uow.predictions.for_signal(sig.id) == [pred]
        assert uow.predictions.get(pred.id) == pred
        # a rejected signal still blocks new ones of its strategy and symbol until its window ends
        for ts, expected in ((T0, [sig.id]), (T0 + 59 * MIN, [sig.id]), (T0 + 60 * MIN, []), (T0 - 1, [])):
            found = uow.signals.active(strategy="sma", symbol="BTC/USDT", ts=ts, deployment_id=dep.id)
            assert [s.id for s in found] == expected, ts
        assert uow.signals.active(strategy="sma", symbol="ETH/USDT", ts=T0) == []
        assert uow.signals.active(strategy="sma", symbol="BTC/USDT", ts=T0, kind=SignalKind.EXIT) == []
        assert [s.id for s in uow.signals.list(run_id=run.id)] == [sig.id]
        assert uow.signals.list(since_ts=T0 + 1) == []
        with pytest.raises(IllegalTransition):
            uow.signals.decide(sig.id, SignalStatus.ACCEPTED, ts=T0 + 2)


# ------------------------------------------------------------------------------------------------- orders
def test_write_ahead_order_life(setup: tuple) -> None:
    uows, dep, run = setup
    with uows() as uow:
        stored = uow.orders.add(order(run, 1))
        uow.commit()  # durable before it is sent
    assert stored.status is S.NEW and stored.account == "binance:main" and stored.deployment_id == dep.id
    cid = stored.client_order_id
    answer = {"id": "8891", "status": "open", "price": 40_000.0, "info": {"orderId": 8891, "nan": float("nan")}}
    with uows() as uow:
        uow.orders.update_status(cid, S.SUBMITTED, ts=T0 + 10)
        uow.orders.update_status(cid, S.ACCEPTED, ts=T0 + 20, raw=answer, exchange_order_id="8891")
        uow.orders.update_status(cid, S.ACCEPTED, ts=T0 + 25, raw=answer)  # the same answer again: nothing
        assert uow.orders.record_fill(FillRecord(cid, "t1", T0 + 30, 0.5, 39_990.0, 0.02, "USDT"))
        assert uow.orders.record_fill(FillRecord(cid, "t2", T0 + 40, 1.5, 40_000.0, 0.06, "USDT"))
        uow.commit()
    with uows() as uow:
        got = uow.orders.get(cid)
        assert got.status is S.FILLED and got.filled_qty == 2.0 and got.exchange_order_id == "8891"
        assert got.avg_fill_price == pytest.approx(39_997.5) and got.fees == pytest.approx(0.08)
        assert uow.orders.by_exchange_id("8891") == got
        assert uow.orders.by_exchange_id("8891", account="binance:main") == got
        assert uow.orders.by_exchange_id("8891", account="paper") is None
        assert uow.orders.get_by_id(got.id) == got
        history = uow.orders.history(cid)
        assert [(h.seq, h.ts, h.from_status, h.status) for h in history] == [
            (0, T0 + 1, None, S.NEW),
            (1, T0 + 10, S.NEW, S.SUBMITTED),
            (2, T0 + 20, S.SUBMITTED, S.ACCEPTED),
            (3, T0 + 30, S.ACCEPTED, S.PARTIALLY_FILLED),
            (4, T0 + 40, S.PARTIALLY_FILLED, S.FILLED),
        ]
        assert history[2].raw == {**answer, "info": {"orderId": 8891, "nan": None}}  # the raw answer, JSON-safe
        assert [h.filled_qty for h in history] == [0.0, 0.0, 0.0, 0.5, 2.0]
        assert [f.fill_id for f in uow.orders.fills(cid)] == ["t1", "t2"]
        core = got.to_order(history)
        assert core.status is S.FILLED and [s for _, s in core.history] == [h.status for h in history[1:]]


def test_client_order_ids_are_never_reused(setup: tuple) -> None:
    uows, _, run = setup
    with uows() as uow:
        first = uow.orders.add(order(run, 1))
        uow.commit()
    with uows() as uow:
        with pytest.raises(DuplicateClientOrderId, match="never reused"):
            uow.orders.add(order(run, 1, symbol="ETH/USDT"))
        # the unit of work is still usable after the refusal (PostgreSQL would abort it without a savepoint)
        uow.orders.add(order(run, 2))
        uow.commit()
    with uows() as uow:
        assert uow.orders.get(first.client_order_id) == first
        assert len(uow.orders.list(run_id=run.id)) == 2
        with pytest.raises(RecordNotFound, match="no order"):
            uow.orders.get("tf-unknown-1")
        assert uow.orders.find("tf-unknown-1") is None


def test_only_new_orders_are_added_and_links_must_exist(setup: tuple) -> None:
    uows, _, run = setup
    with uows() as uow:
        with pytest.raises(DataError, match="before it is sent"):
            uow.orders.add(order(run, 1, status=S.ACCEPTED))
        with pytest.raises(RecordNotFound, match="run"):
            uow.orders.add(order(run, 1, run_id=999))
        with pytest.raises(RecordNotFound, match="order"):
            uow.orders.add(order(run, 1, parent_id=999))
        with pytest.raises(RecordNotFound, match="signal"):
            uow.orders.add(order(run, 1, signal_id=999))


def test_illegal_answers_are_refused_and_change_nothing(setup: tuple) -> None:
    uows, _, run = setup
    with uows() as uow:
        cid = uow.orders.add(order(run, 1)).client_order_id
        uow.orders.update_status(cid, S.SUBMITTED, ts=T0 + 1)
        uow.commit()
    with uows() as uow:
        before = uow.orders.get(cid)
        with pytest.raises(IllegalTransition, match="cannot go from submitted to filled"):
            uow.orders.update_status(cid, S.FILLED, ts=T0 + 2)
        with pytest.raises(IllegalTransition, match="record the exchange's acceptance first"):
            uow.orders.record_fill(FillRecord(cid, "t1", T0 + 2, 1.0, 40_000.0))
        assert uow.orders.get(cid) == before and uow.orders.fills(cid) == []
        assert len(uow.orders.history(cid)) == 2
        uow.orders.update_status(cid, S.REJECTED, ts=T0 + 3, reason="insufficient balance")
        with pytest.raises(IllegalTransition, match="from rejected"):
            uow.orders.update_status(cid, S.ACCEPTED, ts=T0 + 4)
        uow.commit()
    with uows() as uow:
        got = uow.orders.get(cid)
        assert got.status is S.REJECTED and got.reject_reason == "insufficient balance"


def test_exchange_ids_belong_to_one_order_per_account(uows: UnitOfWorkFactory) -> None:
    with uows() as uow:
        main = start(uow, deploy(uow, "a", "binance:main"))
        other = start(uow, deploy(uow, "b", "binance:other"))
        a = uow.orders.add(order(main, 1)).client_order_id
        b = uow.orders.add(order(main, 2)).client_order_id
        c = uow.orders.add(order(other, 1)).client_order_id
        uow.orders.update_status(a, S.SUBMITTED, ts=T0, exchange_order_id="E1")
        uow.orders.update_status(c, S.SUBMITTED, ts=T0, exchange_order_id="E1")  # another account: fine
        with pytest.raises(DataError, match="already belongs to order"):
            uow.orders.update_status(b, S.SUBMITTED, ts=T0, exchange_order_id="E1")
        with pytest.raises(DataError, match="another order"):
            uow.orders.update_status(a, S.ACCEPTED, ts=T0, exchange_order_id="E2")
        uow.commit()
    with uows() as uow:
        assert uow.orders.by_exchange_id("E1", account="binance:other").client_order_id == c
        assert uow.orders.get(b).exchange_order_id is None


def test_fills_are_idempotent_across_restarts(setup: tuple) -> None:
    uows, _, run = setup
    with uows() as uow:
        cid = uow.orders.add(order(run, 1, qty=3.0)).client_order_id
        uow.orders.update_status(cid, S.SUBMITTED, ts=T0)
        uow.orders.update_status(cid, S.ACCEPTED, ts=T0)
        assert uow.orders.record_fill(FillRecord(cid, "t1", T0 + 1, 1.0, 100.0, 0.1, raw={"id": "t1"}))
        uow.commit()
    # "after a restart" reconciliation replays everything the exchange reports: stored once
    for _ in range(2):
        with uows() as uow:
            assert not uow.orders.record_fill(FillRecord(cid, "t1", T0 + 1, 1.0, 100.0, 0.1))
            uow.orders.record_fill(FillRecord(cid, "t2", T0 + 2, 2.0, 101.0, 0.2))
            uow.commit()
    with uows() as uow:
        got = uow.orders.get(cid)
        assert got.filled_qty == 3.0 and got.status is S.FILLED and got.fees == pytest.approx(0.3)
        fills = uow.orders.fills(cid)
        assert [(f.fill_id, f.qty) for f in fills] == [("t1", 1.0), ("t2", 2.0)] and fills[0].raw == {"id": "t1"}
        assert len(uow.orders.history(cid)) == 5
        with pytest.raises(DataError, match="already stored"):
            uow.orders.record_fill(FillRecord(cid, "t2", T0 + 2, 1.5, 101.0, 0.2))
        with pytest.raises(DataError, match="above its quantity"):
            uow.orders.record_fill(FillRecord(cid, "t3", T0 + 3, 0.5, 101.0))
        assert [f.fill_id for f in uow.orders.list_fills(run_id=run.id)] == ["t1", "t2"]
        assert [f.fill_id for f in uow.orders.list_fills(since_ts=T0 + 2)] == ["t2"]


def test_a_fill_after_cancel_is_kept(setup: tuple) -> None:
    uows, _, run = setup
    with uows() as uow:
        cid = uow.orders.add(order(run, 1, qty=3.0)).client_order_id
        for status in (S.SUBMITTED, S.ACCEPTED, S.CANCELLED):
            uow.orders.update_status(cid, status, ts=T0)
        assert uow.orders.record_fill(FillRecord(cid, "t1", T0 - 1, 1.0, 100.0))  # it happened before the cancel
        uow.commit()
    with uows() as uow:
        got = uow.orders.get(cid)
        assert got.status is S.CANCELLED and got.filled_qty == 1.0 and not got.is_open


def test_open_orders_per_run_deployment_account_symbol(uows: UnitOfWorkFactory) -> None:
    with uows() as uow:
        dep = deploy(uow)
        run1 = start(uow, dep)
        run2 = start(uow, dep)  # the run after a restart
        paper = start(uow, deploy(uow, "p", "paper"), RunMode.PAPER)
        a = uow.orders.add(order(run1, 1)).client_order_id
        b = uow.orders.add(order(run1, 2, symbol="ETH/USDT")).client_order_id
        c = uow.orders.add(order(run2, 1)).client_order_id
        d = uow.orders.add(order(paper, 1)).client_order_id
        for cid in (a, b, c, d):
            uow.orders.update_status(cid, S.SUBMITTED, ts=T0)
        uow.orders.update_status(b, S.CANCELLED, ts=T0 + 1)
        uow.commit()
    with uows() as uow:
        ids = lambda orders: [o.client_order_id for o in orders]  # noqa: E731
        assert ids(uow.orders.open_orders(deployment_id=dep.id)) == [a, c]
        assert ids(uow.orders.open_orders(run_id=run1.id)) == [a]
        assert ids(uow.orders.open_orders(account="paper")) == [d]
        assert ids(uow.orders.open_orders(symbol="ETH/USDT")) == []
        assert ids(uow.orders.open_orders()) == [a, c, d]
        assert ids(uow.orders.list(deployment_id=dep.id)) == [a, b, c]
        assert ids(uow.orders.list(status=S.CANCELLED)) == [b]
        assert ids(uow.orders.list(limit=2)) == [c, d]
        assert ids(uow.orders.list(since_ts=T0 + 2)) == [b]


# ------------------------------------------------------------------------------------------------- trades
def test_trades_link_orders_signal_prediction_and_store_net_pnl(setup: tuple) -> None:
    uows, dep, run = setup
    with uows() as uow:
        sig = uow.signals.add(SignalRecord(run.id, "sma", "BTC/USDT", Side.BUY, T0, T0, T0 + MIN))
        pred = uow.predictions.add(PredictionRecord(run.id, "lgbm", T0, 0.7, signal_id=sig.id, accepted=True))
        entry = uow.orders.add(order(run, 1, signal_id=sig.id))
        exit_ = uow.orders.add(order(run, 2, side=Side.SELL))
        core = Trade(1, "sma", "BTC/USDT", 2.0, 40_000.0, T0 + 5, 1, 1, entry_fee=8.0)
        trade = uow.trades.add(
            TradeRecord.from_trade(
                core, run_id=run.id, entry_order_id=entry.id, signal_id=sig.id, prediction_id=pred.id
            )
        )
        assert trade.deployment_id == dep.id and trade.is_open
        uow.commit()
    with uows() as uow:
        assert uow.trades.open_trades(deployment_id=dep.id) == [trade]
        assert uow.trades.open_trades(symbol="ETH/USDT") == []
        closed = uow.trades.close(
            trade.id,
            exit_price=41_000.0,
            exit_ts=T0 + 9,
            exit_order_id=exit_.id,
            exit_fee=8.2,
            exit_reason="take_profit",
        )
        uow.commit()
    core.exit_price, core.exit_ts, core.exit_bar, core.exit_fee = 41_000.0, T0 + 9, 2, 8.2
    with uows() as uow:
        got = uow.trades.get(trade.id)
        assert got == closed and got.realized_pnl == pytest.approx(core.pnl) == pytest.approx(2000.0 - 16.2)
        assert (got.entry_order_id, got.exit_order_id, got.signal_id, got.prediction_id) == (
            entry.id,
            exit_.id,
            sig.id,
            pred.id,
        )
        assert uow.trades.open_trades() == [] and uow.trades.list(closed=True) == [got]
        assert uow.trades.list(strategy="other") == []
        with pytest.raises(DataError, match="closed trade cannot change"):
            uow.trades.close(trade.id, exit_price=1.0, exit_ts=T0)
        assert uow.trades.save(got) == got  # saving it unchanged is fine (a replay)


def test_trades_follow_cores_trades_by_local_id(setup: tuple) -> None:
    """The runner saves core's trades after every fill: grown, split (a partial close), closed."""
    uows, _, run = setup
    with uows() as uow:
        entry = uow.orders.add(order(run, 1))
        exit_ = uow.orders.add(order(run, 2, side=Side.SELL))
        t = TradeRecord(run.id, "sma", "BTC/USDT", 1.0, entry.id, 100.0, T0, local_id=1)
        first = uow.trades.save(t)
        grown = uow.trades.save(dataclasses.replace(t, size=2.0, entry_price=101.0, entry_fee=0.2))
        assert grown.id == first.id
        # core splits a partial close: the closed part is a new trade, the rest stays open and smaller
        part = dataclasses.replace(
            t,
            local_id=2,
            size=0.5,
            entry_price=101.0,
            entry_fee=0.05,
            exit_price=110.0,
            exit_ts=T0 + 1,
            exit_order_id=exit_.id,
            exit_fee=0.06,
        )
        uow.trades.save(part)
        uow.trades.save(dataclasses.replace(t, size=1.5, entry_price=101.0, entry_fee=0.15))
        with pytest.raises(DuplicateRecord, match="local id"):
            uow.trades.add(t)
        with pytest.raises(DataError, match="direction"):
            uow.trades.save(dataclasses.replace(t, size=-1.0))
        with pytest.raises(RecordNotFound, match="order"):
            uow.trades.add(dataclasses.replace(t, local_id=9, entry_order_id=999))
        uow.commit()
    with uows() as uow:
        trades = uow.trades.list(run_id=run.id)
        assert [(x.local_id, x.size, x.is_open) for x in trades] == [(1, 1.5, True), (2, 0.5, False)]
        assert uow.trades.by_local_id(run.id, 2).realized_pnl == pytest.approx(0.5 * 9.0 - 0.11)
        assert uow.trades.by_local_id(run.id, 3) is None


# ---------------------------------------------------------------------------------------------- snapshots
def test_position_and_equity_snapshots(setup: tuple) -> None:
    uows, _, run = setup
    with uows() as uow:
        uow.snapshots.add_positions(
            [
                PositionSnapshot(run.id, T0, "sma", "BTC/USDT", 1.0, 100.0, 101.0, 0.0, 1.0, 0.1),
                PositionSnapshot(run.id, T0, "sma", "ETH/USDT", -2.0, 50.0, 49.0, 0.0, 2.0, 0.1),
                PositionSnapshot(run.id, T0 + MIN, "sma", "BTC/USDT", 0.0, None, 102.0, 2.0, None, 0.2),
            ]
        )
        uow.snapshots.add_equity(
            [EquitySnapshot(run.id, T0 + k * MIN, 10_000.0 + k, 9_000.0, exposure=100.0) for k in range(3)]
            + [EquitySnapshot(run.id, T0, 5_000.0, 5_000.0, strategy="sma")]
        )
        uow.commit()
    with uows() as uow:
        latest = uow.snapshots.positions(run.id)
        assert [(p.symbol, p.ts, p.qty) for p in latest] == [("BTC/USDT", T0 + MIN, 0.0), ("ETH/USDT", T0, -2.0)]
        then = uow.snapshots.positions(run.id, at_ts=T0)
        assert [(p.symbol, p.qty, p.unrealized_pnl) for p in then] == [("BTC/USDT", 1.0, 1.0), ("ETH/USDT", -2.0, 2.0)]
        curve = uow.snapshots.equity(run.id)
        assert [e.equity for e in curve] == [10_000.0, 10_001.0, 10_002.0]
        assert [e.equity for e in uow.snapshots.equity(run.id, since_ts=T0 + MIN, until_ts=T0 + MIN)] == [10_001.0]
        assert [e.equity for e in uow.snapshots.equity(run.id, strategy="sma")] == [5_000.0]
        with pytest.raises(DuplicateRecord):
            uow.snapshots.add_equity([EquitySnapshot(run.id, T0, 1.0, 1.0)])
        with pytest.raises(DuplicateRecord):
            uow.snapshots.add_positions([PositionSnapshot(run.id, T0, "sma", "BTC/USDT", 1.0)])
        with pytest.raises(RecordNotFound):
            uow.snapshots.add_equity([EquitySnapshot(999, T0, 1.0, 1.0)])
