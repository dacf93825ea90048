"""Units of work are atomic: an exception, a missing commit() or a killed process leaves nothing half-written; two
writers never both apply an answer. On memory, SQLite and (when configured) PostgreSQL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tradeforge.core.errors import DataError, IllegalTransition
from tradeforge.core.types import OrderStatus, OrderType, Side
from tradeforge.persistence import (
    DeploymentRecord,
    DuplicateClientOrderId,
    FillRecord,
    MemoryStore,
    OrderRecord,
    RunMode,
    RunRecord,
    SqlUnitOfWork,
    UnitOfWorkFactory,
    make_client_order_id,
)
from tradeforge.persistence.testing import ScratchDatabase, available_backends, scratch_database

S = OrderStatus
T0 = 1_704_067_200_000_000_000


class Boom(Exception):
    pass


@pytest.fixture(params=["memory", *available_backends()])
def uows(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[UnitOfWorkFactory]:
    if request.param == "memory":
        yield MemoryStore()
        return
    with scratch_database(request.param, tmp_path) as db:
        yield db.uow_factory()


@pytest.fixture(params=available_backends())
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ScratchDatabase]:
    with scratch_database(request.param, tmp_path) as scratch:
        yield scratch


def new_order(run: RunRecord, seq: int, qty: float = 1.0) -> OrderRecord:
    cid = make_client_order_id(run.key, seq)
    return OrderRecord(cid, run.id, "s", "BTC/USDT", Side.BUY, OrderType.MARKET, qty, T0 + seq)


def counts(uows: UnitOfWorkFactory) -> tuple[int, int, int]:
    with uows() as uow:
        orders = uow.orders.list()
        fills = uow.orders.list_fills()
        return len(uow.deployments.list()), len(orders), len(fills)


def test_an_exception_rolls_everything_back(uows: UnitOfWorkFactory) -> None:
    with pytest.raises(Boom), uows() as uow:
        dep = uow.deployments.add(DeploymentRecord("d", "S", account="x"))
        run = uow.runs.add(RunRecord(RunMode.LIVE, T0, dep.id))
        cid = uow.orders.add(new_order(run, 1)).client_order_id
        uow.orders.update_status(cid, S.SUBMITTED, ts=T0)
        uow.orders.update_status(cid, S.ACCEPTED, ts=T0)
        uow.orders.record_fill(FillRecord(cid, "t1", T0, 1.0, 100.0))
        raise Boom("crash between the fill and the commit")
    assert counts(uows) == (0, 0, 0)
    with uows() as uow:
        assert uow.runs.list() == []


def test_leaving_without_commit_rolls_back_and_commit_keeps_what_came_before(uows: UnitOfWorkFactory) -> None:
    with uows() as uow:
        uow.deployments.add(DeploymentRecord("kept", "S"))
        uow.commit()
        uow.deployments.add(DeploymentRecord("dropped", "S"))
    with uows() as uow:
        assert [d.name for d in uow.deployments.list()] == ["kept"]
        uow.deployments.add(DeploymentRecord("undone", "S"))
        uow.rollback()
        uow.deployments.add(DeploymentRecord("after rollback", "S"))
        uow.commit()
    with uows() as uow:
        assert [d.name for d in uow.deployments.list()] == ["after rollback", "kept"]


def test_a_refused_change_inside_a_unit_of_work_leaves_the_rest_committable(uows: UnitOfWorkFactory) -> None:
    with uows() as uow:
        run = uow.runs.add(RunRecord(RunMode.PAPER, T0))
        cid = uow.orders.add(new_order(run, 1)).client_order_id
        with pytest.raises(DuplicateClientOrderId, match="never reused"):
            uow.orders.add(new_order(run, 1))
        with pytest.raises(IllegalTransition, match="cannot go from new to filled"):
            uow.orders.update_status(cid, S.FILLED, ts=T0)
        uow.orders.update_status(cid, S.SUBMITTED, ts=T0)
        uow.commit()
    with uows() as uow:
        assert uow.orders.get(cid).status is S.SUBMITTED


def test_misuse_is_reported(uows: UnitOfWorkFactory) -> None:
    uow = uows()
    with pytest.raises(DataError, match="outside"):
        uow.commit()
    with uow, pytest.raises(DataError, match="already in use"):
        uow.__enter__()


CHILD = """
import os, sys, time
from tradeforge.core.types import OrderStatus, OrderType, Side
from tradeforge.persistence import OrderRecord, RunMode, RunRecord, SqlUnitOfWorkFactory, FillRecord, make_engine

uows = SqlUnitOfWorkFactory(make_engine(sys.argv[1]))
with uows() as uow:
    run = uow.runs.add(RunRecord(RunMode.LIVE, 1, key="child"))
    cid = uow.orders.add(OrderRecord("tfchild-1", run.id, "s", "X", Side.BUY, OrderType.MARKET, 2.0, 1)).client_order_id
    uow.commit()  # durable: the write-ahead record
    uow.orders.update_status(cid, OrderStatus.SUBMITTED, ts=2)
    uow.orders.update_status(cid, OrderStatus.ACCEPTED, ts=3, exchange_order_id="E1")
    uow.orders.record_fill(FillRecord(cid, "t1", 4, 1.0, 100.0))
    print("written", flush=True)
    time.sleep(60)  # killed here, before commit
"""


def test_a_killed_process_leaves_the_last_commit_and_nothing_after(db: ScratchDatabase, tmp_path: Path) -> None:
    script = tmp_path / "child.py"
    script.write_text(textwrap.dedent(CHILD))
    url = db.url.render_as_string(hide_password=False)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    child = subprocess.Popen([sys.executable, str(script), url], stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "written"
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.wait(timeout=30)
    assert child.returncode == -signal.SIGKILL
    uows = db.uow_factory()
    with uows() as uow:  # the database opens (no lock left behind) and holds exactly the committed state
        order = uow.orders.get("tfchild-1")
        assert order.status is S.NEW and order.exchange_order_id is None and order.filled_qty == 0.0
        assert uow.orders.fills("tfchild-1") == [] and len(uow.orders.history("tfchild-1")) == 1
        # recovery carries on from there
        uow.orders.update_status("tfchild-1", S.SUBMITTED, ts=5)
        uow.commit()


def test_two_writers_never_both_apply_an_answer(db: ScratchDatabase) -> None:
    """Writer A holds the order while B tries the same answer: B waits, then sees A's change (a no-op for it)."""
    uows = db.uow_factory()
    with uows() as uow:
        run = uow.runs.add(RunRecord(RunMode.LIVE, T0))
        cid = uow.orders.add(new_order(run, 1, qty=2.0)).client_order_id
        uow.orders.update_status(cid, S.SUBMITTED, ts=T0)
        uow.orders.update_status(cid, S.ACCEPTED, ts=T0)
        uow.commit()
    a_holds = threading.Event()
    b_result: list[object] = []

    def writer_b() -> None:
        a_holds.wait(10)
        try:
            with uows() as uow:
                b_result.append(uow.orders.record_fill(FillRecord(cid, "t1", T0 + 1, 1.0, 100.0)))
                uow.commit()
        except Exception as exc:  # reported below
            b_result.append(exc)

    b = threading.Thread(target=writer_b)
    b.start()
    with uows() as uow:
        assert uow.orders.record_fill(FillRecord(cid, "t1", T0 + 1, 1.0, 100.0))
        a_holds.set()
        b.join(0.5)
        assert b.is_alive()  # B is waiting for A's lock
        uow.commit()
    b.join(30)
    assert b_result == [False]  # B found the fill stored: booked once
    with uows() as uow:
        got = uow.orders.get(cid)
        assert got.filled_qty == 1.0 and got.status is S.PARTIALLY_FILLED and len(uow.orders.history(cid)) == 4


def test_readers_do_not_wait_for_a_writer(db: ScratchDatabase) -> None:
    uows = db.uow_factory()
    with uows() as writer:
        writer.deployments.add(DeploymentRecord("d", "S"))
        with SqlUnitOfWork(uows.engine, read_only=True) as reader:
            assert reader.deployments.list() == []  # the writer's work is not visible before its commit
            with pytest.raises(DataError, match="read-only"):
                reader.commit()
        writer.commit()
    with uows.reader() as reader:
        assert [d.name for d in reader.deployments.list()] == ["d"]
