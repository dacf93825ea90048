"""Live crash test harness: a `tradeforge live` process sending real orders to the local exchange simulator,
SIGKILLed at seeded moments and restarted, many times.

Run as a script, this module is the bot: it installs kill points (src is not edited) and runs what `tradeforge live
-c FILE --simulator-port P ...` runs. ``TF_CRASH_AT=<point>:<n>`` makes it SIGKILL itself at the n-th live hit of:

* ``stored_not_sent``: right after ``before_send`` committed a new order (NEW in the database), before the gateway
  sends it: the write-ahead gap.
* ``sent_not_recorded``: right after the exchange accepted an order, before its answer (exchange id) is stored.
* ``fill_not_recorded``: right after the gateway booked an exchange trade in the engine, before the recorder stores
  it: the gap between the exchange's fill and our record of it.

The parent (``LiveCrashCycles``) also kills at seeded random times, during start-up and replay too, and lets bars
close (and orders fill) while the bot is down. ``final_check`` compares the database with the simulator: every order
on the exchange is stored (with its exchange id) and every stored order the exchange does not know was never sent
(rejected, or a stop-loss / take-profit the bot held); every exchange trade is a stored fill and vice versa (same
quantity, price, fee); no client order id twice; the account's BTC and USDT equal the baseline plus the stored fills;
open orders agree. The strategy's trades carry stop-losses, placed on the exchange as native stop orders.
"""

from __future__ import annotations

import os
import random
import signal
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from crash_harness import Paper

HERE = Path(__file__).resolve()
SYM = "BTC/USDT"
POINTS = ("stored_not_sent", "sent_not_recorded", "fill_not_recorded")
BALANCES = {"USDT": 20_000.0, "BTC": 0.5}
FILE = """name = "crash-live"
strategy = "sma_cross_long"
data = ["binance:BTC/USDT@1m"]
cash = 10000
warmup = 40
live = true
reconcile_every = 4
[params]
fast = 2
slow = 5
sl_pct = 0.0015
"""


# -------------------------------------------------------------------------------------------------- the bot
def _install_kill_points(spec: str) -> None:
    from tradeforge.live.recorder import RunRecorder
    from tradeforge.live.venue import VenueGateway

    point, _, nth = spec.partition(":")
    if point not in POINTS:
        raise SystemExit(f"unknown kill point {point!r}")
    target = int(nth or "1")
    hits = [0]

    def hit(where: str) -> None:
        if where != point:
            return
        hits[0] += 1
        if hits[0] >= target:
            sys.stderr.write(f"crash-harness: SIGKILL at {point} #{hits[0]}\n")
            sys.stderr.flush()
            os.kill(os.getpid(), signal.SIGKILL)

    before_send, send, book = RunRecorder.before_send, VenueGateway._send, VenueGateway._book

    def before_send_hook(self: Any, order: Any) -> None:
        new = order.id not in self._tracked
        before_send(self, order)
        if new:
            hit("stored_not_sent")

    def send_hook(self: Any, order: Any, kind: Any, **how: Any) -> None:
        bridge = self.bridge
        run = bridge.run

        def run_then_kill(make: Any) -> Any:
            out = run(make)
            if isinstance(out, dict) and out.get("clientOrderId"):  # create_order's answer
                hit("sent_not_recorded")
            return out

        bridge.run = run_then_kill
        try:
            send(self, order, kind, **how)
        finally:
            bridge.run = run

    def book_hook(self: Any, order: Any, trade: Any) -> None:
        book(self, order, trade)
        hit("fill_not_recorded")

    RunRecorder.before_send = before_send_hook  # type: ignore[method-assign]
    VenueGateway._send = send_hook  # type: ignore[method-assign]
    VenueGateway._book = book_hook  # type: ignore[method-assign]


def _main() -> None:
    import logging

    from tradeforge.core.errors import TradeforgeError
    from tradeforge.service import live as live_service
    from tradeforge.service.trading import describe_outcome

    spec = os.environ.get("TF_CRASH_AT")
    if spec:
        _install_kill_points(spec)
    opts = dict(zip(sys.argv[1::2], sys.argv[2::2], strict=True))
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(message)s", stream=sys.stderr)
    logging.getLogger("tradeforge").setLevel(logging.INFO)
    try:
        report = live_service.start_live(
            live_service.live_spec_from_toml(Path(opts["--config"])), db_url=opts["--db"], store=opts["--store"],
            control=opts["--control-dir"], simulator_port=int(opts["--simulator-port"]),
            poll_interval=float(opts["--poll"]),
        )  # fmt: skip
    except TradeforgeError as exc:
        sys.stderr.write(f"error: {exc}\n")
        raise SystemExit(1) from exc
    print(describe_outcome(report))
    raise SystemExit(1 if report.outcome.status == "failed" else 0)


# ------------------------------------------------------------------------------------------------ the parent
class Bot(Paper):
    """A `tradeforge live` bot process (this file run as a script), its stderr read on a thread."""

    def __init__(self, args: list[str], crash_at: str | None) -> None:
        super().__init__(args, crash_at, script=HERE)


@dataclass
class LiveCrashCycles:
    sim: Any
    db_url: str
    workdir: Path
    seed: int = 11
    kinds: Counter[str] = field(default_factory=Counter)
    self_kills: Counter[str] = field(default_factory=Counter)

    def __post_init__(self) -> None:
        from tradeforge.persistence import SqlUnitOfWorkFactory, make_engine

        self.uows = SqlUnitOfWorkFactory(make_engine(self.db_url))
        config = self.workdir / "crash-live.toml"
        config.write_text(FILE)
        self.args = [
            "--config", str(config), "--db", self.db_url, "--store", str(self.workdir / "bars"),
            "--control-dir", str(self.workdir / "control"), "--simulator-port", str(self.sim.port), "--poll", "0.05",
        ]  # fmt: skip
        self.started = False

    def _live_bars(self, bot: Bot, rng: random.Random, n: int, kill_after: float | None) -> None:
        t0 = time.monotonic()
        for _ in range(n):
            if not bot.alive() or (kill_after is not None and time.monotonic() - t0 >= kill_after):
                return
            self.sim.advance()
            time.sleep(rng.uniform(0.05, 0.25))  # a live bot trades each bar as it closes

    def cycle(self, i: int) -> str:
        rng = random.Random(f"{self.seed}-{i}")
        if not self.started:
            kind = rng.choice(["timer", *POINTS])
        else:
            kind = rng.choices(["timer_startup", "timer", *POINTS], weights=[1, 2, 2, 2, 2])[0]
        self.kinds[kind] += 1
        bot = Bot(self.args, f"{kind}:1" if kind in POINTS else None)
        try:
            if kind == "timer_startup":
                time.sleep(rng.uniform(0.3, 2.5))
            else:
                went_live = bot.wait_for("reconciliation (start of live trading)", timeout=90)
                if not went_live and "crash-harness: SIGKILL at" not in bot.drain():  # a kill point may come earlier
                    raise AssertionError(f"cycle {i} ({kind}): the bot did not go live:\n{bot.drain()}")
                self.started = True
                if kind == "timer":
                    self._live_bars(bot, rng, rng.randint(2, 8), rng.uniform(0.1, 1.5))
                else:
                    self._live_bars(bot, rng, 40, None)
        finally:
            if not bot.alive() and bot.proc.returncode == -signal.SIGKILL:
                self.self_kills[kind] += 1
            bot.kill()
        log = bot.drain()
        if bot.proc.returncode != -signal.SIGKILL:
            raise AssertionError(f"cycle {i} ({kind}): the bot ended with {bot.proc.returncode}:\n{log}")
        for bad in ("Traceback", "ResumeError", "ReconcileError"):
            if bad in log:
                raise AssertionError(f"cycle {i} ({kind}): {bad} in the bot's log:\n{log}")
        if rng.random() < 0.5:
            self.sim.advance(rng.randint(1, 2))  # bars close, orders fill, while the bot is down
        return kind

    def finish(self) -> Bot:
        """A last, uninterrupted run: resume, trade a few bars, stop with SIGTERM."""
        bot = Bot(self.args, None)
        if not bot.wait_for("reconciliation (start of live trading)", timeout=90):
            bot.kill()
            raise AssertionError(f"the final run did not go live:\n{bot.drain()}")
        for _ in range(4):
            self.sim.advance()
            time.sleep(0.3)
        time.sleep(0.5)
        bot.proc.send_signal(signal.SIGTERM)
        bot.proc.wait(timeout=60)
        log = bot.drain()
        if bot.proc.returncode != 0 or "Traceback" in log:
            raise AssertionError(f"the final run ended with {bot.proc.returncode}:\n{log}")
        return bot

    def final_check(self) -> dict[str, Any]:
        import math

        from tradeforge.core.types import OrderStatus
        from tradeforge.persistence import RunMode, RunStatus

        with self.uows.reader() as uow:
            dep = uow.deployments.by_name("crash-live")
            assert dep is not None
            runs = uow.runs.list(deployment_id=dep.id, mode=RunMode.LIVE)
            stored = uow.orders.list(deployment_id=dep.id)
            fills = uow.orders.list_fills(deployment_id=dep.id)
        baseline = runs[0].info["baseline"]
        cids = [o.client_order_id for o in stored]
        problems = []
        if len(set(cids)) != len(cids):
            problems.append("a client order id is stored twice")
        on_exchange = {o.client_order_id: o for o in self.sim.orders()}
        if len(on_exchange) != len(self.sim.orders()):
            problems.append("a client order id reached the exchange twice")
        by_cid = {o.client_order_id: o for o in stored}
        for cid, ex in on_exchange.items():
            rec = by_cid.get(cid)
            if rec is None:
                problems.append(f"order {cid} is on the exchange, not in the database")
            elif rec.exchange_order_id != str(ex.order_id):
                problems.append(f"order {cid}: exchange id {rec.exchange_order_id} stored, {ex.order_id} on it")
            elif not math.isclose(rec.filled_qty, ex.executed_qty, abs_tol=1e-9) or rec.is_open != ex.is_open:
                problems.append(f"order {cid}: stored {rec.status.value} {rec.filled_qty}, exchange {ex.status} "
                                f"{ex.executed_qty}")  # fmt: skip
        for rec in stored:
            held_exit = rec.role in ("stop_loss", "take_profit") and rec.exchange_order_id is None  # never sent
            if rec.client_order_id not in on_exchange and rec.status is not OrderStatus.REJECTED and not held_exit:
                problems.append(f"order {rec.client_order_id} is stored {rec.status.value} but the exchange does "
                                "not know it")  # fmt: skip
        trades = {str(t.id): t for t in self.sim.trades()}
        stored_fills = {f.fill_id: f for f in fills}
        if sorted(trades) != sorted(stored_fills):
            problems.append(f"exchange trades {sorted(set(trades) - set(stored_fills))} not stored; stored fills "
                            f"{sorted(set(stored_fills) - set(trades))} not on the exchange")  # fmt: skip
        for tid, t in trades.items():
            f = stored_fills.get(tid)
            if f is not None and not (math.isclose(f.qty, t.qty, rel_tol=1e-12) and f.price == t.price
                                      and math.isclose(f.fee, t.commission, rel_tol=1e-9, abs_tol=1e-12)):  # fmt: skip
                problems.append(f"fill {tid}: stored {f.qty}@{f.price} fee {f.fee}, exchange {t.qty}@{t.price}")
        side = {o.client_order_id: (1 if o.side.name == "BUY" else -1) for o in stored}
        btc = float(baseline["BTC"]) + sum(side[f.client_order_id] * f.qty for f in fills)
        usdt = BALANCES["USDT"] - sum(side[f.client_order_id] * f.qty * f.price + f.fee for f in fills)
        held = self.sim.balance("BTC")
        cash = self.sim.balance("USDT")
        if not math.isclose(held.free + held.locked, btc, abs_tol=1e-9):
            problems.append(f"the exchange holds {held.free + held.locked} BTC, the fills say {btc}")
        if not math.isclose(cash.free + cash.locked, usdt, rel_tol=1e-9, abs_tol=1e-6):
            problems.append(f"the exchange holds {cash.free + cash.locked} USDT, the fills say {usdt}")
        crashed = sum(1 for r in runs if r.status is RunStatus.CRASHED)
        return {
            "problems": problems,
            "runs": len(runs),
            "crashed": crashed,
            "orders_on_exchange": len(on_exchange),
            "stored_orders": len(stored),
            "never_sent": sum(1 for o in stored if o.client_order_id not in on_exchange),
            "fills": len(fills),
            "native_stops": sum(
                1
                for o in stored
                if o.role == "stop_loss"
                and o.exchange_order_id is not None
                and o.type.value == "stop"
                and self.sim.order(o.client_order_id).type == "STOP_LOSS"
            ),
            "moved_off": sum(1 for o in stored if o.reject_reason.startswith("moved off the exchange")),
            "kinds": dict(self.kinds),
            "self_kills": dict(self.self_kills),
        }


if __name__ == "__main__":
    _main()
