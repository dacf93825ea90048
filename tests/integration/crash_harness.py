"""Crash test harness: a `tradeforge paper` process SIGKILLed at seeded moments and resumed by name, many times.

Run as a script, this module is the paper process: it installs kill points on the RunRecorder (src is not edited)
and runs the `paper` command. ``TF_CRASH_AT=<point>:<n>`` makes it SIGKILL itself at the n-th live hit of:

* ``stored_not_sent``: right after ``before_send`` committed a new order (NEW in the database) and before the paper
  gateway (the simulated broker) takes it: the write-ahead gap between storing and sending.
* ``fill_not_recorded``: at the start of ``on_step`` of a live step in which the broker filled an order, before the
  recorder stores that fill: the gap between the exchange's fill and our record of it.

The parent (``CrashCycles``) also kills at seeded random times (``timer``), during start-up and replay too. After
each kill it classifies where the kill landed from the database state alone, checks that the database is a prefix
of an uninterrupted backtest on the same bars, and restarts the deployment by name. ``final_check`` compares the
end state with the backtest: orders, fills, trades, cash and position, no client order id twice, runs crashed then
continued.

Important: paper orders never reach the simulator's order endpoints (PaperGateway is the backtest's simulated
broker fed live bars); the simulator only provides bars and the clock. So "the exchange" in these invariants is the
paper account, whose ground truth is the uninterrupted backtest of the same bars.
"""

from __future__ import annotations

import os
import queue
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve()
SYM = "BTC/USDT"
START, WARMUP = 1000, 60
PARAMS = {"fast": 3, "slow": 8}
COMMISSION = 0.001
POINTS = ("stored_not_sent", "fill_not_recorded")


# ------------------------------------------------------------------------------------------ the paper process
def _install_kill_points(spec: str) -> None:
    from tradeforge.live.recorder import RunRecorder

    point, _, nth = spec.partition(":")
    if point not in POINTS:
        raise SystemExit(f"unknown kill point {point!r}")
    target = int(nth or "1")
    state = {"live": False, "hits": 0}

    def hit() -> None:
        state["hits"] += 1
        if state["hits"] >= target:
            sys.stderr.write(f"crash-harness: SIGKILL at {point} #{state['hits']}\n")
            sys.stderr.flush()
            os.kill(os.getpid(), signal.SIGKILL)

    on_live, before_send, on_step = RunRecorder.on_live, RunRecorder.before_send, RunRecorder.on_step

    def on_live_hook(self: Any, last_warmup_ts: int | None) -> None:
        on_live(self, last_warmup_ts)
        state["live"] = True

    def before_send_hook(self: Any, order: Any) -> None:
        new = order.id not in self._tracked
        before_send(self, order)
        if new and state["live"] and point == "stored_not_sent":
            hit()

    def on_step_hook(self: Any, ts: int, live: bool) -> None:
        if live and state["live"] and point == "fill_not_recorded" and len(self.engine.fills) > self._fills_seen:
            hit()
        on_step(self, ts, live)

    RunRecorder.on_live = on_live_hook  # type: ignore[method-assign]
    RunRecorder.before_send = before_send_hook  # type: ignore[method-assign]
    RunRecorder.on_step = on_step_hook  # type: ignore[method-assign]


def _service(argv: list[str]) -> None:
    """What `tradeforge paper --name N --db D --store S --control-dir C --simulator-port P --poll X` does, without
    importing tradeforge.cli (whose package imports the whole app, scikit-learn included: ~2.5 s per start)."""
    import logging

    from tradeforge.core.errors import TradeforgeError
    from tradeforge.service import trading as service

    opts = dict(zip(argv[::2], argv[1::2], strict=True))
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(message)s", stream=sys.stderr)
    logging.getLogger("tradeforge").setLevel(logging.INFO)
    spec = service.replace_spec(service.PaperSpec(), {"name": opts["--name"]})
    try:
        report = service.start_paper(
            spec, db_url=opts["--db"], store=opts["--store"], control=opts["--control-dir"],
            simulator_port=int(opts["--simulator-port"]), poll_interval=float(opts["--poll"]),
        )  # fmt: skip
    except TradeforgeError as exc:
        sys.stderr.write(f"error: {exc}\n")
        raise SystemExit(1) from exc
    print(service.describe_outcome(report))
    raise SystemExit(1 if report.outcome.status == "failed" else 0)


def _main() -> None:
    spec = os.environ.get("TF_CRASH_AT")
    if spec:
        _install_kill_points(spec)
    if sys.argv[1:2] == ["--service"]:
        _service(sys.argv[2:])
        return
    import typer

    from tradeforge.cli.trading import register

    app = typer.Typer()
    register(app)
    app(args=["paper", *sys.argv[1:]])


# ------------------------------------------------------------------------------------------------ the parent
class Paper:
    """A paper process whose stderr is read on a thread."""

    def __init__(self, args: list[str], crash_at: str | None) -> None:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        env.pop("TF_CRASH_AT", None)
        if crash_at:
            env["TF_CRASH_AT"] = crash_at
        self.proc = subprocess.Popen(
            [sys.executable, str(HERE), *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.log: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.put(line)

    def drain(self) -> str:
        while True:
            try:
                self.log.append(self.lines.get_nowait())
            except queue.Empty:
                return "".join(self.log)

    def wait_for(self, text: str, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.drain():
                return True
            if self.proc.poll() is not None:
                return text in self.drain()
            time.sleep(0.02)
        return False

    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)
        time.sleep(0.05)
        self.drain()


@dataclass
class CycleReport:
    kind: str  # how the kill was planned: timer_startup, timer, stored_not_sent, fill_not_recorded
    landed: str  # where it landed, judged from the database
    self_killed: bool
    seconds: float


@dataclass
class CrashCycles:
    """Runs the cycles against an ExchangeSimulator (in this process) and a database URL."""

    sim: Any
    db_url: str
    workdir: Path
    seed: int = 7
    name: str = "crash"
    reports: list[CycleReport] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        from tradeforge.data import load_sample
        from tradeforge.persistence import SqlUnitOfWorkFactory, make_engine

        self.btc = load_sample("BTC-PERP")
        self.engine = make_engine(self.db_url)
        self.uows = SqlUnitOfWorkFactory(self.engine)
        self.common = [
            "--db", self.db_url, "--store", str(self.workdir / "bars"), "--control-dir", str(self.workdir / "control"),
            "--simulator-port", str(self.sim.port), "--poll", "0.05",
        ]  # fmt: skip
        self.spec = [
            "--strategy", "sma_cross", "--data", f"binance:{SYM}@1m", "-p", f"fast={PARAMS['fast']}",
            "-p", f"slow={PARAMS['slow']}", "--warmup", str(WARMUP), "--commission", str(COMMISSION),
        ]  # fmt: skip
        self.started = False

    # ------------------------------------------------------------------------------------------- one cycle
    def cycle(self, i: int) -> CycleReport:
        rng = random.Random(f"{self.seed}-{i}")  # each cycle's plan depends on the seed and its number only
        t0 = time.monotonic()
        self._runs_before = len(self.state()["runs"])
        if not self.started:
            kind = rng.choice(["timer", *POINTS])  # never before the first run exists: it fixes the origin
        else:
            kind = rng.choices(["timer_startup", "timer", *POINTS], weights=[1, 3, 2, 2])[0]
        crash_at = f"{kind}:1" if kind in POINTS else None
        if self.started:  # resume by name through the service start_paper (the CLI's code path, faster start)
            args = ["--service", "--name", self.name, *self.common]
        else:  # the first start through the `tradeforge paper` command itself
            args = [*self.spec, "--name", self.name, *self.common]
        paper = Paper(args, crash_at)
        try:
            if kind == "timer_startup":
                time.sleep(rng.uniform(0.2, 2.5))  # start-up, resume checks, replay of the bars
            else:
                if not paper.wait_for("warm-up done", timeout=60):
                    if paper.alive():
                        raise AssertionError("no warm-up in time:\n" + paper.drain())
                    raise AssertionError(f"the paper process died (rc {paper.proc.returncode}):\n{paper.drain()}")
                self.started = True
                kill_after = rng.uniform(0.0, 0.6) if kind == "timer" else None
                t_live = time.monotonic()
                budget = rng.randint(3, 8) if kind == "timer" else 30
                for _ in range(budget):
                    if not paper.alive():
                        break
                    if kill_after is not None and time.monotonic() - t_live >= kill_after:
                        break
                    self.sim.advance()
                    time.sleep(rng.uniform(0.01, 0.08))
                if kill_after is not None:
                    while time.monotonic() - t_live < kill_after and paper.alive():
                        time.sleep(0.005)
                elif paper.alive():
                    time.sleep(0.3)  # the kill point did not come in these bars: killed idle instead
        finally:
            self_killed = not paper.alive() and paper.proc.returncode == -signal.SIGKILL
            paper.kill()
        if paper.proc.returncode != -signal.SIGKILL:
            raise AssertionError(f"cycle {i}: the paper process ended with {paper.proc.returncode}:\n{paper.drain()}")
        log = paper.drain()
        if "Traceback" in log or "ResumeError" in log:
            raise AssertionError(f"cycle {i}: the paper process failed:\n{log}")
        landed = self.classify(log, kind)
        if kind == "timer" and self.sim is not None:
            down = rng.randint(0, 2)
            if down:
                self.sim.advance(down)  # bars may close while the bot is down
        report = CycleReport(kind, landed, self_killed, time.monotonic() - t0)
        self.reports.append(report)
        if os.environ.get("TF_CRASH_VERBOSE"):
            print(f"cycle {i}: {report}", file=sys.stderr, flush=True)
        return report

    # ---------------------------------------------------------------------------------- where it landed
    def state(self) -> dict[str, Any]:
        from tradeforge.persistence import RunMode

        with self.uows.reader() as uow:
            dep = uow.deployments.by_name(self.name)
            if dep is None:
                return {"dep": None, "runs": [], "orders": [], "fills": [], "trades": [], "histories": {}, "last": None}
            runs = uow.runs.list(deployment_id=dep.id, mode=RunMode.PAPER)
            orders = uow.orders.list(deployment_id=dep.id)
            fills = uow.orders.list_fills(deployment_id=dep.id)
            trades = uow.trades.list(deployment_id=dep.id)
            histories = {o.client_order_id: uow.orders.history(o.client_order_id) for o in orders}
            last = None
            for run in reversed(runs):
                curve = uow.snapshots.equity(run.id or 0)
                if curve:
                    last = curve[-1]
                    break
        return {"dep": dep, "runs": runs, "orders": orders, "fills": fills, "trades": trades,
                "histories": histories, "last": last}  # fmt: skip

    def classify(self, log: str, kind: str) -> str:
        """Where the kill landed, from the database alone: an order stored after the last committed step (NEW,
        never taken by the gateway) = stored_not_sent; a fill the uninterrupted run made at a bar the exchange
        closed, after the last committed step, not in the database = fill_not_recorded (both can hold)."""
        st = self.state()
        self.check_prefix(st)
        if "warm-up done" not in log:
            if len(st["runs"]) == self._runs_before:
                return "startup: before its run was stored"
            return "startup: run stored, during the replay"
        landed = []
        last_ts = st["last"].ts if st["last"] is not None else None
        if last_ts is not None:
            if any(o.created_ts > last_ts for o in st["orders"]):
                landed.append("stored_not_sent")
            ref = self.reference(self.closed_index())
            stored = {(f.ts, f.qty, f.price) for f in st["fills"]}
            if any(f.ts > last_ts and (f.ts, f.qty, f.price) not in stored for f in ref.fills):
                landed.append("fill_not_recorded")
        if "crash-harness: SIGKILL at" in log and kind not in landed:
            self.problems.append(f"the process killed itself at {kind} but the database shows {landed or 'nothing'}")
        return "+".join(landed) or "between steps"

    # ------------------------------------------------------------------------------------------ reference
    def closed_index(self) -> int:
        """Index (exclusive) of the bars closed on the simulator."""
        import numpy as np

        now_ns = self.sim.now_ms * 1_000_000
        return int(np.searchsorted(self.btc.ts, now_ns - self.btc.timeframe, side="right"))

    def origin_index(self) -> int:
        import numpy as np

        st_runs = self.state()["runs"]
        origin = st_runs[0].info["paper"]["origin_ts"]
        return int(np.searchsorted(self.btc.ts, origin))

    def reference(self, end: int) -> Any:
        from tradeforge.core.bars import BarSeries
        from tradeforge.core.fees import MakerTakerFee
        from tradeforge.core.types import Instrument
        from tradeforge.sim.backtest import run_backtest
        from tradeforge.strategies.sma_cross import SmaCross

        a, s = self.origin_index(), self.btc
        bars = BarSeries.from_arrays(
            SYM, s.timeframe, s.ts[a:end], s.open[a:end], s.high[a:end], s.low[a:end], s.close[a:end], s.volume[a:end]
        )
        inst = Instrument(SYM, tick_size=0.01, lot_size=0.00001, min_notional=5.0, quote_currency="USDT")
        return run_backtest(
            SmaCross(**PARAMS), bars, cash=10_000.0, commission=MakerTakerFee(COMMISSION, COMMISSION),
            instruments={SYM: inst},
        )  # fmt: skip

    def check_prefix(self, st: dict[str, Any]) -> None:
        """After a kill the database holds a prefix of the uninterrupted run: nothing invented, nothing twice."""
        if not st["runs"]:
            return
        ref = self.reference(self.closed_index())
        cids = [o.client_order_id for o in st["orders"]]
        if len(set(cids)) != len(cids):
            self.problems.append(f"client order id used twice: {[c for c, n in Counter(cids).items() if n > 1]}")
        local = [o.local_id for o in st["orders"]]
        if local != list(range(1, len(local) + 1)) and local != [o.id for o in ref.orders[: len(local)]]:
            self.problems.append(f"engine ids are not the backtest's prefix: {local}")
        want = [(o.side, o.type) for o in ref.orders[: len(local)]]
        got = [(o.side, o.type) for o in st["orders"]]
        if got != want:
            self.problems.append(f"stored orders differ from the backtest's: {got} != {want}")
        fills = [(f.ts, f.qty, f.price) for f in st["fills"]]
        if fills != [(f.ts, f.qty, f.price) for f in ref.fills[: len(fills)]]:
            self.problems.append("stored fills are not a prefix of the backtest's fills")

    # ---------------------------------------------------------------------------------------------- final
    def finish(self, bars: int = 5) -> dict[str, Any]:
        """A last clean run: resume, trade a few bars, catch up to the simulator's last close, SIGTERM."""
        paper = Paper(["--name", self.name, *self.common], None)
        try:
            if not paper.wait_for("warm-up done", timeout=60):
                raise AssertionError("final run: no warm-up:\n" + paper.drain())
            for _ in range(bars):
                self.sim.advance()
                time.sleep(0.05)
            end = self.closed_index()
            last_bar = int(self.btc.ts[end - 1])
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                st = self.state()
                if st["last"] is not None and st["last"].ts >= last_bar:
                    break
                time.sleep(0.05)
            else:
                raise AssertionError("final run did not reach the last bar:\n" + paper.drain())
            paper.proc.send_signal(signal.SIGTERM)
            paper.proc.wait(timeout=30)
        finally:
            if paper.alive():
                paper.kill()
        time.sleep(0.05)
        if paper.proc.returncode != 0:
            raise AssertionError(f"final run ended with {paper.proc.returncode}:\n{paper.drain()}")
        return self.final_check(end)

    def final_check(self, end: int) -> dict[str, Any]:
        from tradeforge.core.types import OrderStatus
        from tradeforge.persistence import RunStatus

        st = self.state()
        ref = self.reference(end)
        orders, fills, trades, runs = st["orders"], st["fills"], st["trades"], st["runs"]
        out: dict[str, Any] = {"orders": len(orders), "fills": len(fills), "trades": len(trades), "runs": len(runs)}
        cids = [o.client_order_id for o in orders]
        assert len(set(cids)) == len(cids), "a client order id is used twice"
        got = [(o.local_id, o.side, o.type, o.status, o.filled_qty, o.avg_fill_price, o.fees) for o in orders]
        want = [
            (o.id, o.side, o.type, o.status, o.filled_qty, None if o.filled_qty == 0 else o.avg_fill_price, o.fees)
            for o in ref.orders
        ]
        assert got == want, f"orders differ from the uninterrupted backtest:\n{got}\n{want}"
        # every fill in the database is the backtest's and vice versa: none lost, none twice
        assert [(f.ts, f.qty, f.price, f.fee) for f in fills] == [(f.ts, f.qty, f.price, f.fee) for f in ref.fills]
        fill_ids = [f.fill_id for f in fills]
        assert len(set(fill_ids)) == len(fill_ids), "a fill is stored twice"
        for o in orders:  # each order's fills add up to its filled quantity
            own = [f.qty for f in fills if f.client_order_id == o.client_order_id]
            assert abs(sum(own) - o.filled_qty) < 1e-9, o
        assert [(t.entry_ts, t.size, t.entry_price, t.exit_ts, t.exit_price) for t in trades] == [
            (t.entry_ts, t.size, t.entry_price, None if t.is_open else t.exit_ts, None if t.is_open else t.exit_price)
            for t in ref.trades
        ]
        # cash and position: the last snapshot against the backtest's account after the same bars
        last = st["last"]
        assert last is not None and last.ts == int(self.btc.ts[end - 1])
        ref_cash = float(ref.cash[-1])
        out["cash"] = last.cash
        assert abs(last.cash - ref_cash) < 1e-6 * max(1.0, abs(ref_cash)), (last.cash, ref_cash)
        ref_equity = float(ref.equity[-1])
        assert abs(last.equity - ref_equity) < 1e-6 * abs(ref_equity), (last.equity, ref_equity)
        net = sum(t.size for t in ref.trades if t.is_open)
        stored_qty = self._latest_position()
        assert abs(stored_qty - net) < 1e-9, (stored_qty, net)
        out["position"] = stored_qty
        # runs: every killed run was ended as crashed by the next start, the last stopped cleanly
        assert [r.status for r in runs[:-1]] == [RunStatus.CRASHED] * (len(runs) - 1), [r.status for r in runs]
        assert all("process is gone" in (r.stop_reason or "") for r in runs[:-1])
        assert runs[-1].status is RunStatus.STOPPED
        keys = [r.key for r in runs]
        assert len(set(keys)) == len(keys)
        open_orders = [o for o in orders if o.status not in (OrderStatus.FILLED, OrderStatus.CANCELLED,
                                                             OrderStatus.REJECTED, OrderStatus.EXPIRED)]  # fmt: skip
        out["open_orders"] = len(open_orders)
        assert not self.problems, self.problems
        return out

    def _latest_position(self) -> float:
        with self.uows.reader() as uow:
            for run in reversed(self.state()["runs"]):
                pos = uow.snapshots.positions(run.id or 0)
                if pos:
                    return max(pos, key=lambda p: p.ts).qty
        return 0.0

    def summary(self) -> dict[str, Any]:
        return {
            "cycles": len(self.reports),
            "planned": dict(Counter(r.kind for r in self.reports)),
            "landed": dict(Counter(r.landed for r in self.reports)),
            "self_killed": sum(r.self_killed for r in self.reports),
            "hits": {p: sum(p in r.landed.split("+") for r in self.reports) for p in POINTS},
            "cycle_seconds_mean": sum(r.seconds for r in self.reports) / max(1, len(self.reports)),
        }


if __name__ == "__main__":
    _main()
