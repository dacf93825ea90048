"""Live trading (real orders through ccxt's binance client) against the local exchange simulator, recorded in SQL.

The simulator replays the BTC-PERP 1m sample as BTC/USDT and fills market orders at the next bar's open. The live
run warms up (orders the strategy places on warm-up bars are refused, not sent), then trades each bar the test
closes. After every session the exchange and the database must agree: every order on the exchange is stored with
its exchange id and vice versa, every exchange trade is a stored fill (same id, quantity, price, fee), no client
order id twice, and the account's BTC equals the baseline plus the bot's position. Faults injected by the simulator
(reject, insufficient funds, time-out after the order was placed, rate limit, partial fill, a restart of the bot)
end in the right state. On SQLite, and on PostgreSQL when TRADEFORGE_TEST_DATABASE_URL is set.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("ccxt")

from tradeforge.core.bars import BarSeries
from tradeforge.core.risk import RiskLimits
from tradeforge.core.strategy import Strategy
from tradeforge.core.types import Instrument, OrderStatus
from tradeforge.data import load_sample
from tradeforge.live.bridge import ExchangeBridge
from tradeforge.live.clock import FunctionClock
from tradeforge.live.feed import CcxtFeed
from tradeforge.live.live_run import LiveConfig, LiveRun, measure_baseline, open_live_run
from tradeforge.live.paper import PaperConfig
from tradeforge.live.reconcile import ReconcileError
from tradeforge.live.runner import RunOutcome
from tradeforge.live.simulator import ExchangeSimulator
from tradeforge.persistence import DeploymentRecord, RunStatus, UnitOfWorkFactory
from tradeforge.persistence.testing import ScratchDatabase, available_backends, scratch_database
from tradeforge.strategies.sma_cross_long import SmaCrossLong

SYM = "BTC/USDT"
A, S = 900, 1000  # warm-up from bar A (exchange history), live from bar S
MAKER, TAKER = 0.001, 0.002
NS_PER_MS = 1_000_000
INST = Instrument(SYM, tick_size=0.01, lot_size=0.00001, min_notional=5.0, quote_currency="USDT")
PARAMS: dict[str, Any] = {"fast": 3, "slow": 8}


@pytest.fixture(scope="module")
def btc() -> BarSeries:
    return load_sample("BTC-PERP")


@pytest.fixture(params=available_backends())
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ScratchDatabase]:
    with scratch_database(request.param, tmp_path) as scratch:
        yield scratch


@pytest.fixture
def sim(btc: BarSeries) -> Iterator[ExchangeSimulator]:
    balances = {"USDT": 25_000.0, "BTC": 0.5}  # more than the bot trades with: the rest is not its business
    with ExchangeSimulator(btc, start=S, maker_fee=MAKER, taker_fee=TAKER, balances=balances, push_interval=0.2) as s:
        yield s


def deploy(uows: UnitOfWorkFactory, params: dict[str, Any] | None = None) -> DeploymentRecord:
    with uows() as uow:
        dep = uow.deployments.add(
            DeploymentRecord("btc-live", "sma_cross_long", params or PARAMS, (SYM,), ("1m",), "live:binance")
        )
        uow.commit()
    return dep


def config(btc: BarSeries, native_stops: bool = True, **risk: Any) -> LiveConfig:
    account = PaperConfig((SYM,), btc.timeframe, int(btc.ts[A]), 10_000.0, MAKER, TAKER, instruments=(INST,))
    return LiveConfig(account, RiskLimits(**risk), reconcile_every=5, native_stops=native_stops)


async def session(
    sim: ExchangeSimulator, uows: UnitOfWorkFactory, dep: DeploymentRecord, btc: BarSeries, close: int, *,
    during: Callable[[int], None] | None = None, params: dict[str, Any] | None = None, strategy: Any = None,
    native_stops: bool = True, **risk: Any,
) -> tuple[LiveRun, RunOutcome]:  # fmt: skip
    """One bot process: start (or resume), warm up, close `close` bars one at a time, stop."""
    clock = FunctionClock(lambda: sim.now_ms * NS_PER_MS)
    exchange = sim.ccxt_exchange(pro=True)
    try:
        await exchange.load_markets()
        cfg = config(btc, native_stops, **risk)
        baseline = await measure_baseline(exchange, [SYM], cfg.account.cash)
        feeds = [CcxtFeed(exchange, SYM, "1m", clock=clock, poll_interval=0.2)]
        bridge = ExchangeBridge(exchange, attempts=4, backoff=0.05)
        live = open_live_run(
            uows, dep, cfg, [strategy or SmaCrossLong(**(params or PARAMS))], feeds, bridge, clock=clock,
            baseline=baseline,
            handle_signals=False,
        )  # fmt: skip
        task = asyncio.create_task(live.run())
        await live.runner.wait_for_step(clock.now() - btc.timeframe, timeout=30)
        for k in range(close):
            if task.done():
                break
            if during is not None:
                during(k)
            opening = sim.now_ms * NS_PER_MS
            await asyncio.to_thread(sim.advance)
            await live.runner.wait_for_step(opening, timeout=20)
        live.runner.stop("test over")
        return live, await task
    finally:
        await exchange.close()


def assert_exchange_matches_database(sim: ExchangeSimulator, uows: UnitOfWorkFactory, dep: DeploymentRecord,
                                     engine_qty: float) -> dict[str, Any]:  # fmt: skip
    with uows() as uow:
        stored = uow.orders.list(deployment_id=dep.id)
        fills = uow.orders.list_fills(deployment_id=dep.id)
    cids = [o.client_order_id for o in stored]
    assert len(set(cids)) == len(cids), "a client order id was used twice"
    on_exchange = {o.client_order_id: o for o in sim.orders()}
    sent = [o for o in stored if o.exchange_order_id is not None]
    assert sorted(on_exchange) == sorted(o.client_order_id for o in sent), "exchange and database orders differ"
    for rec in sent:
        ex = on_exchange[rec.client_order_id]
        assert rec.exchange_order_id == str(ex.order_id)
        assert rec.filled_qty == pytest.approx(ex.executed_qty, rel=1e-12, abs=1e-12)
        assert rec.is_open == ex.is_open, (rec, ex)
    trades = {str(t.id): t for t in sim.trades()}
    assert sorted(trades) == sorted(f.fill_id for f in fills), "exchange trades and stored fills differ"
    for f in fills:
        t = trades[f.fill_id]
        assert (f.qty, f.price) == pytest.approx((t.qty, t.price), rel=1e-12)
        assert f.fee == pytest.approx(t.commission, rel=1e-9, abs=1e-12)  # charged in USDT
    btc_held = sim.balance("BTC").free + sim.balance("BTC").locked
    assert btc_held == pytest.approx(0.5 + engine_qty, abs=1e-9)
    return {"orders": len(stored), "sent": len(sent), "fills": len(fills)}


def test_live_trading_on_the_simulator_keeps_exchange_and_database_equal(
    sim: ExchangeSimulator, db: ScratchDatabase, btc: BarSeries
) -> None:
    uows = db.uow_factory()
    dep = deploy(uows)
    live, outcome = asyncio.run(session(sim, uows, dep, btc, 120))
    assert (outcome.status, outcome.warmup_bars, outcome.live_bars) == ("stopped", S - A, 120)
    engine = live.engine
    qty = engine.portfolio.net_qty.get(SYM, 0.0)
    counts = assert_exchange_matches_database(sim, uows, dep, qty)
    assert counts["fills"] >= 10
    # orders of warm-up bars were refused, not sent, and not stored
    warm = [o for o in engine.orders if o.created_ts < int(btc.ts[S - 1])]
    assert warm and all(o.status is OrderStatus.REJECTED and "warm-up" in o.reject_reason for o in warm)
    assert counts["orders"] == len(engine.orders) - len(warm)
    # market orders placed at a bar's close filled at the next bar's open, with the taker fee
    with uows() as uow:
        fills = uow.orders.list_fills(deployment_id=dep.id)
        trades = uow.trades.list(deployment_id=dep.id)
    opens = dict(zip(btc.ts.tolist(), btc.open.tolist(), strict=True))
    assert all(f.price == opens[f.ts] for f in fills)
    assert all(f.fee == pytest.approx(f.qty * f.price * TAKER, rel=1e-9) for f in fills)
    closed = [t for t in trades if not t.is_open]
    assert len(closed) >= 4 and all(t.realized_pnl is not None for t in closed)


def test_a_restarted_live_bot_replays_without_sending_again_and_books_what_filled_while_down(
    sim: ExchangeSimulator, db: ScratchDatabase, btc: BarSeries
) -> None:
    uows = db.uow_factory()
    dep = deploy(uows)
    first, _ = asyncio.run(session(sim, uows, dep, btc, 50))
    sent_before = len(sim.orders())
    sim.advance(7)  # bars close (and orders fill) while the bot is down
    second, outcome = asyncio.run(session(sim, uows, dep, btc, 60))
    assert outcome.status == "stopped" and outcome.live_bars == 60
    refused = [o for o in second.engine.orders if "orders are sent from the first live bar on" in o.reject_reason]
    assert refused and second.gateway.refused_not_live == len(refused)  # warm-up / catch-up: refused, never sent
    assert len(sim.orders()) >= sent_before
    qty = second.engine.portfolio.net_qty.get(SYM, 0.0)
    assert_exchange_matches_database(sim, uows, dep, qty)
    with uows() as uow:
        runs = uow.runs.list(deployment_id=dep.id)
    assert [r.status for r in runs] == [RunStatus.STOPPED, RunStatus.STOPPED]
    # the replay put the first run's orders back in the engine with their stored answers: same ids, same fills
    replayed = {o.id: o for o in second.engine.orders}
    for order in first.engine.orders:
        if order.status is OrderStatus.FILLED:
            assert replayed[order.id].filled_qty == order.filled_qty
            assert replayed[order.id].avg_fill_price == order.avg_fill_price


def test_exchange_faults_end_in_the_right_state_with_a_log_line(
    sim: ExchangeSimulator, db: ScratchDatabase, btc: BarSeries, caplog: pytest.LogCaptureFixture
) -> None:
    uows = db.uow_factory()
    dep = deploy(uows)
    faults = {
        5: ("insufficient_funds", {}),
        15: ("timeout", {"on": "create_order", "delay": 5.0, "executed": True}),
        25: ("rate_limit", {"on": "fetch_open_orders"}),
        35: ("partial_fill", {"fraction": 0.5}),
        45: ("invalid_order", {}),
        55: ("disconnect", {"on": "create_order", "executed": True}),
        65: ("disconnect", {"on": "stream"}),
        75: ("restart", {"on": "fetch_open_orders", "down_for": 0.3}),
    }
    fired = {}

    def inject(k: int) -> None:
        if k in faults:
            kind, kw = faults[k]
            fired[k] = sim.inject(kind, **kw)

    with caplog.at_level(logging.INFO):
        live, outcome = asyncio.run(session(sim, uows, dep, btc, 90, during=inject))
    assert live.engine.step_ts == btc.ts[A : S + 90].tolist()  # no gap, no double bar
    assert outcome.status == "stopped"
    qty = live.engine.portfolio.net_qty.get(SYM, 0.0)
    assert_exchange_matches_database(sim, uows, dep, qty)
    text = caplog.text
    with uows() as uow:
        rejected = uow.orders.list(deployment_id=dep.id, status=OrderStatus.REJECTED)
    reasons = " | ".join(o.reject_reason for o in rejected)
    assert all(f.fired for f in fired.values()), {faults[k][0]: f.fired for k, f in fired.items()}
    assert "InsufficientFunds" in reasons and "refused" in text  # reject: the strategy sees a rejected order
    assert "InvalidOrder" in reasons
    assert "looking it up by its client order id" in text and "not sent again" in text  # time-out after placing
    assert "DDoSProtection" in text and "retry 1/" in text  # rate limit: retried with backoff
    partial = [o for o in sim.orders() if len(o.fills) > 1]  # partial fill: the rest filled on later bars
    assert partial and all(not o.is_open for o in partial)
    cid = partial[0].client_order_id
    assert sum(
        1 for line in text.splitlines() if f"{cid} BTC/USDT: buy" in line or f"{cid} BTC/USDT: sell" in line
    ) == len(partial[0].fills)
    assert "the candle stream dropped" in text  # disconnect mid-stream: reconnected, no bar lost
    assert live.engine.step_ts == sorted(set(live.engine.step_ts))
    assert "NetworkError" in text or "ExchangeNotAvailable" in text  # the exchange restarted: retried


def test_reconciliation_refuses_to_trade_when_someone_else_moved_the_position(
    sim: ExchangeSimulator, db: ScratchDatabase, btc: BarSeries
) -> None:
    uows = db.uow_factory()
    dep = deploy(uows)
    asyncio.run(session(sim, uows, dep, btc, 10))
    # someone sells 0.2 BTC by hand on the same account while the bot is down
    ex = sim.ccxt_exchange()
    ex.load_markets()
    ex.create_order(SYM, "market", "sell", 0.2, params={"newClientOrderId": "by-hand-1"})
    sim.advance()
    with pytest.raises(ReconcileError, match=r"the exchange holds .* BTC, the bot's records leave"):
        asyncio.run(session(sim, uows, dep, btc, 3))
    with uows() as uow:
        last = uow.runs.list(deployment_id=dep.id)[-1]
    assert last.status is RunStatus.FAILED and "cannot resolve" in last.stop_reason


def test_an_unknown_open_order_is_adopted_as_external_and_left_alone(
    sim: ExchangeSimulator, db: ScratchDatabase, btc: BarSeries
) -> None:
    uows = db.uow_factory()
    dep = deploy(uows)
    ex = sim.ccxt_exchange()
    ex.load_markets()
    low = round(sim.price * 0.5, 2)
    ex.create_order(SYM, "limit", "buy", 0.001, low, params={"newClientOrderId": "manual-bid"})
    asyncio.run(session(sim, uows, dep, btc, 12))
    with uows() as uow:
        external = [o for o in uow.orders.list(deployment_id=dep.id) if o.role == "external"]
    assert len(external) == 1 and external[0].tag == "manual-bid" and external[0].limit == low
    assert sim.order("manual-bid").is_open  # never cancelled by the bot


def test_fees_kept_in_the_asset_bought_leave_the_position_equal_to_the_account(
    db: ScratchDatabase, btc: BarSeries
) -> None:
    """binance without BNB keeps a buy's fee in the asset bought: the bot books what arrived (net), values the fee in
    USDT, and its exits sell exactly what the account holds; a restart in between resumes on the same numbers."""
    uows = db.uow_factory()
    dep = deploy(uows)
    balances = {"USDT": 25_000.0, "BTC": 0.5}
    with ExchangeSimulator(btc, start=S, maker_fee=MAKER, taker_fee=TAKER, balances=balances, fee_asset="received",
                           push_interval=0.2) as sim:  # fmt: skip
        asyncio.run(session(sim, uows, dep, btc, 60))
        live, outcome = asyncio.run(session(sim, uows, dep, btc, 60))
        assert outcome.status == "stopped"
        with uows() as uow:
            fills = uow.orders.list_fills(deployment_id=dep.id)
            stored = uow.orders.list(deployment_id=dep.id)
        trades = {str(t.id): t for t in sim.trades()}
        assert sorted(trades) == sorted(f.fill_id for f in fills) and len(fills) >= 8
        side = {o.client_order_id: 1 if o.side.name == "BUY" else -1 for o in stored}
        for f in fills:
            t = trades[f.fill_id]
            if side[f.client_order_id] > 0:  # bought: the fee was kept in BTC
                assert t.commission_asset == "BTC" and f.qty == pytest.approx(t.qty - t.commission, rel=1e-12)
                assert f.fee == pytest.approx(t.commission * t.price, rel=1e-9)
            else:
                assert t.commission_asset == "USDT" and f.qty == pytest.approx(t.qty, rel=1e-12)
            assert f.raw["gross"] == pytest.approx(t.qty, rel=1e-12)
        held = sim.balance("BTC").free + sim.balance("BTC").locked
        position = live.engine.portfolio.net_qty.get(SYM, 0.0)
        assert held == pytest.approx(0.5 + position, abs=1e-9)
        assert all(not o.is_open for o in sim.orders()) or position > 0
        assert not [o for o in stored if o.reject_reason.startswith("binance refused")]  # no exit sold too much


class LowBids(Strategy):
    """Every 10th bar: a bid 5% under the close valid for 3 minutes, and a stop buy 50% above valid for 2 (a native
    stop on the exchange), and one of half the cash (a fraction: sized when it triggers, so held by the bot)."""

    def on_bar(self) -> None:
        if len(self.data.close) % 10 == 0:
            close = float(self.data.close[-1])
            self.buy(0.001, limit=close * 0.95, valid_for="3m")
            self.buy(0.001, stop=close * 1.5, valid_for="2m")
            self.buy(fraction=0.5, stop=close * 1.5, valid_for="2m")
            self.buy(0.001, limit=close * 0.95, tif="ioc")  # immediate or cancel: expires on the exchange


def test_good_till_time_orders_expire_on_the_exchange_and_held_stops_expire_here(
    sim: ExchangeSimulator, db: ScratchDatabase, btc: BarSeries
) -> None:
    uows = db.uow_factory()
    dep = deploy(uows)
    asyncio.run(session(sim, uows, dep, btc, 40, strategy=LowBids()))
    with uows() as uow:
        stored = uow.orders.list(deployment_id=dep.id)
    iocs = [o for o in stored if o.type.value == "limit" and o.tif.value == "ioc"]
    assert len(iocs) >= 3 and all(sim.order(o.client_order_id).time_in_force == "IOC" for o in iocs)
    gone = [o for o in iocs if not o.is_open]  # (the last one may have been placed at the last bar)
    assert len(gone) >= 3 and all(o.status is OrderStatus.EXPIRED and o.reject_reason == "expired on the exchange"
                                  for o in gone)  # fmt: skip
    bids = [o for o in stored if o.type.value == "limit" and o.tif.value == "gtt"]
    stops = [o for o in stored if o.type.value == "stop"]
    assert len(bids) >= 3 and len(stops) >= 3
    done = [o for o in bids if not o.is_open]
    assert done and all(o.status is OrderStatus.CANCELLED and o.reject_reason == "good-till-time reached" for o in done)
    assert all(sim.order(o.client_order_id).status == "CANCELED" for o in done)
    native = [o for o in stops if o.exchange_order_id is not None]
    held = [o for o in stops if o.exchange_order_id is None and not o.is_open]
    assert len(native) >= 3 and all(sim.order(o.client_order_id).type == "STOP_LOSS" for o in native)
    assert all(o.fraction is None and sim.order(o.client_order_id).stop_price == o.stop for o in native)
    expired = [o for o in native if not o.is_open]
    assert expired and all(o.reject_reason == "good-till-time reached" for o in expired)
    assert all(sim.order(o.client_order_id).status == "CANCELED" for o in expired)
    assert len(held) >= 3 and all(o.status is OrderStatus.EXPIRED and o.fraction == 0.5 for o in held)
    for o in done:  # cancelled at the first bar opening at or after its expiry
        cancelled_at = next(c.ts for c in uow_history(uows, o.client_order_id) if c.status is OrderStatus.CANCELLED)
        assert cancelled_at - o.created_ts == 4 * btc.timeframe  # placed at bar k's close, valid 3m after it


def uow_history(uows: UnitOfWorkFactory, cid: str) -> list[Any]:
    with uows() as uow:
        return uow.orders.history(cid)


class StopLossBuyer(Strategy):
    """Long with a stop-loss 0.1% under the close whenever flat; every 6th bar in a trade it sells by itself."""

    def on_start(self) -> None:
        self.bars_in = 0

    def on_bar(self) -> None:
        held = self.position().qty
        if self.orders and held <= 0:
            return  # the entry is still working
        if held <= 0:
            self.bars_in = 0
            self.buy(0.01, sl=float(self.data.close[-1]) * 0.999)
            return
        self.bars_in += 1
        if self.bars_in % 6 == 0:
            self.close()


def native_stops(stored: list[Any]) -> list[Any]:
    return [o for o in stored if o.role == "stop_loss" and o.exchange_order_id is not None]


def test_stop_losses_rest_on_the_exchange_and_move_off_it_for_an_exit(
    sim: ExchangeSimulator, db: ScratchDatabase, btc: BarSeries, caplog: pytest.LogCaptureFixture
) -> None:
    """A trade's stop-loss is sent as binance's STOP_LOSS order at its (rounded) price and fills there on the
    exchange; an exit of the strategy first cancels it (a spot balance backs one sell) and holds a replacement."""
    caplog.set_level(logging.INFO, logger="tradeforge.live.venue")
    uows = db.uow_factory()
    dep = deploy(uows)
    live, outcome = asyncio.run(session(sim, uows, dep, btc, 90, strategy=StopLossBuyer()))
    assert outcome.status == "stopped"
    assert_exchange_matches_database(sim, uows, dep, live.engine.portfolio.net_qty.get(SYM, 0.0))
    with uows() as uow:
        stored = uow.orders.list(deployment_id=dep.id)
        fills = {f.fill_id: f for f in uow.orders.list_fills(deployment_id=dep.id)}
    natives = native_stops(stored)
    assert len(natives) >= 5
    for rec in natives:
        ex = sim.order(rec.client_order_id)
        assert ex.type == "STOP_LOSS" and ex.side == "SELL"
        assert ex.stop_price == pytest.approx(round(rec.stop, 2), abs=1e-9)
    hit = [o for o in natives if o.status is OrderStatus.FILLED]
    assert len(hit) >= 2
    for rec in hit:  # filled by the exchange at the stop (or the open of a bar that gapped through it)
        ex = sim.order(rec.client_order_id)
        for t in ex.fills:
            stored_fill = fills[str(t.id)]
            assert stored_fill.price == t.price and stored_fill.reason == "stop_loss"
            assert t.price <= ex.stop_price + 1e-9
    moved = [o for o in stored if o.reject_reason.startswith("moved off the exchange")]
    assert len(moved) >= 2 and all(sim.order(o.client_order_id).status == "CANCELED" for o in moved)
    # each moved stop was replaced by a held one of the same trade at the same price, closed with its trade
    held = [o for o in stored if o.role == "stop_loss" and o.exchange_order_id is None]
    assert len(held) >= len(moved) and all(not o.is_open or o.stop in {m.stop for m in moved} for o in held)
    assert not [o for o in stored if "refused" in o.reject_reason]  # no exit ran into a balance a stop held
    assert "native stop at" in caplog.text


def test_a_native_stop_fills_while_the_bot_is_down_and_the_restart_books_it(
    sim: ExchangeSimulator, db: ScratchDatabase, btc: BarSeries
) -> None:
    uows = db.uow_factory()
    dep = deploy(uows)
    resting = None
    for _ in range(8):  # until a session ends with a stop-loss resting on the exchange
        asyncio.run(session(sim, uows, dep, btc, 3, strategy=StopLossBuyer()))
        with uows() as uow:
            resting = next((o for o in native_stops(uow.orders.list(deployment_id=dep.id)) if o.is_open), None)
        if resting is not None:
            break
    assert resting is not None
    for _ in range(300):  # the bot is down: the market falls through the stop
        if not sim.order(resting.client_order_id).is_open:
            break
        sim.advance()
    assert sim.order(resting.client_order_id).status == "FILLED"
    live, outcome = asyncio.run(session(sim, uows, dep, btc, 5, strategy=StopLossBuyer()))
    assert outcome.status == "stopped"
    assert_exchange_matches_database(sim, uows, dep, live.engine.portfolio.net_qty.get(SYM, 0.0))
    with uows() as uow:
        rec = uow.orders.get(resting.client_order_id)
        fills = uow.orders.fills(resting.client_order_id)
    assert rec.status is OrderStatus.FILLED
    assert [f.fill_id for f in fills] == [str(t.id) for t in sim.order(resting.client_order_id).fills]


def test_with_native_stops_off_the_bot_holds_every_stop_loss(
    sim: ExchangeSimulator, db: ScratchDatabase, btc: BarSeries
) -> None:
    uows = db.uow_factory()
    dep = deploy(uows)
    live, outcome = asyncio.run(session(sim, uows, dep, btc, 40, strategy=StopLossBuyer(), native_stops=False))
    assert outcome.status == "stopped"
    assert_exchange_matches_database(sim, uows, dep, live.engine.portfolio.net_qty.get(SYM, 0.0))
    with uows() as uow:
        stops = [o for o in uow.orders.list(deployment_id=dep.id) if o.role == "stop_loss"]
    assert len(stops) >= 3 and not [o for o in sim.orders() if o.type == "STOP_LOSS"]
    # triggered on a closed bar, they went out as market orders
    sent = [o for o in stops if o.exchange_order_id is not None]
    assert sent and all(sim.order(o.client_order_id).type == "MARKET" for o in sent)


class RatchetStop(Strategy):
    """Long with a stop-loss 0.1% under the close whenever flat; the stop follows the close up (a new stop order
    each time); every 8th bar in a trade it sells by itself."""

    def on_start(self) -> None:
        self.bars_in = 0

    def on_bar(self) -> None:
        close = float(self.data.close[-1])
        held = self.position().qty
        if self.orders and held <= 0:
            return
        if held <= 0:
            self.bars_in = 0
            self.buy(0.01, sl=close * 0.999)
            return
        self.bars_in += 1
        if self.bars_in % 8 == 0:
            self.close()
            return
        for trade in self.trades:
            stop = self.engine.open.get(trade.sl_order_id) if trade.sl_order_id is not None else None
            if stop is not None and stop.stop is not None and close * 0.999 > stop.stop + 0.01:
                self.engine.set_trade_exit(trade, "stop_loss", close * 0.999)


def test_a_stop_loss_moved_by_the_strategy_is_replaced_on_the_exchange_across_a_restart(
    sim: ExchangeSimulator, db: ScratchDatabase, btc: BarSeries
) -> None:
    uows = db.uow_factory()
    dep = deploy(uows)
    asyncio.run(session(sim, uows, dep, btc, 40, strategy=RatchetStop()))
    sim.advance(2)
    live, outcome = asyncio.run(session(sim, uows, dep, btc, 40, strategy=RatchetStop()))
    assert outcome.status == "stopped"
    assert_exchange_matches_database(sim, uows, dep, live.engine.portfolio.net_qty.get(SYM, 0.0))
    with uows() as uow:
        stored = uow.orders.list(deployment_id=dep.id)
    moved = [o for o in stored if o.reject_reason.startswith("stop-loss of trade")]
    assert len(moved) >= 3 and all(sim.order(o.client_order_id).status == "CANCELED" for o in moved)
    assert sum(1 for o in sim.orders() if o.type == "STOP_LOSS" and o.is_open) <= 1  # never two at once
    assert not [o for o in stored if "refused" in o.reject_reason]
