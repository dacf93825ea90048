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

Timing: for the kill points the simulator closes one bar at a time, each once the process has run the one before
(however slow the machine, the points are reached, not skipped by an idle kill); after a kill on PostgreSQL the
parent waits until the server has ended the dead process's sessions (a COMMIT it sent may still be running) before
it reads the database. A failed check says which cycle (seed, plan, kill moment), the database state and the tail of
the paper process's stderr (and of the previous one's).

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


def _install_stack_dump() -> None:
    """SIGUSR2 writes every thread's stack and every asyncio task's to stderr: what a process that hangs is doing
    (the parent sends it before killing a process that did not start or stop in time)."""
    import asyncio
    import faulthandler

    def dump(signum: int, frame: Any) -> None:
        faulthandler.dump_traceback(all_threads=True)
        try:
            tasks = asyncio.all_tasks()  # the signal is handled in the main thread, inside the running loop
        except RuntimeError:
            tasks = set()
        for task in tasks:
            task.print_stack(limit=12, file=sys.stderr)
        sys.stderr.write("crash-harness: stacks dumped\n")
        sys.stderr.flush()

    signal.signal(signal.SIGUSR2, dump)  # SIGUSR1 is the runner's kill switch


def _main() -> None:
    _install_stack_dump()
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
WARMUP_TIMEOUT = 120.0  # seconds for a paper process to start, resume and replay (a loaded CI machine is slow)
CATCH_UP_TIMEOUT = 30.0  # seconds for a paper process to run a bar the simulator closed (before a kill point)
STOP_TIMEOUT = 60.0  # seconds for a paper process to stop after SIGTERM
LOG_TAIL = 60  # lines of a paper process's stderr shown when a check fails (more with a stack dump)


class Paper:
    """A paper process (this file run as a script, or another harness's) whose stderr is read on a thread (every
    line kept, for the diagnostics)."""

    def __init__(self, args: list[str], crash_at: str | None, script: Path = HERE) -> None:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        env.pop("TF_CRASH_AT", None)
        if crash_at:
            env["TF_CRASH_AT"] = crash_at
        self.args = args
        self.t0 = time.monotonic()
        self.proc = subprocess.Popen(
            [sys.executable, str(script), *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.log: list[str] = []
        self.dumped = False
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

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

    def _read_to_end(self) -> str:
        """Once the process has ended: everything it wrote (the reader thread reaches the end of the pipe)."""
        self.reader.join(timeout=10)
        return self.drain()

    def wait_for(self, text: str, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.drain():
                return True
            if self.proc.poll() is not None:
                return text in self._read_to_end()
            time.sleep(0.02)
        return False

    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)
        self._read_to_end()

    def dump_stacks(self) -> None:
        """Ask a process that hangs what it is doing (see _install_stack_dump), before it is killed."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGUSR2)
            self.wait_for("crash-harness: stacks dumped", timeout=5)
            self.dumped = True

    def tail(self, lines: int = LOG_TAIL) -> str:
        log = self.drain().splitlines()
        cut = f"[... {len(log) - lines} earlier lines]\n" if len(log) > lines else ""
        return cut + "\n".join(log[-lines:])


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
        from sqlalchemy.engine import make_url

        from tradeforge.data import load_sample
        from tradeforge.persistence import SqlUnitOfWorkFactory, make_engine

        self.btc = load_sample("BTC-PERP")
        self.engine = make_engine(self.db_url)
        self.uows = SqlUnitOfWorkFactory(self.engine)
        self.postgres = make_url(self.db_url).get_backend_name() == "postgresql"
        self.common = [
            "--store", str(self.workdir / "bars"), "--control-dir", str(self.workdir / "control"),
            "--simulator-port", str(self.sim.port), "--poll", "0.05",
        ]  # fmt: skip
        self.spec = [
            "--strategy", "sma_cross", "--data", f"binance:{SYM}@1m", "-p", f"fast={PARAMS['fast']}",
            "-p", f"slow={PARAMS['slow']}", "--warmup", str(WARMUP), "--commission", str(COMMISSION),
        ]  # fmt: skip
        self.started = False
        self._token = f"{os.getpid()}-{random.Random().getrandbits(24):06x}"
        self._launched = 0
        self._app: str | None = None  # the PostgreSQL application_name of the current paper process
        self._ctx: dict[str, Any] = {}  # what the current cycle planned and did (for the diagnostics)
        self._previous: tuple[dict[str, Any], str] | None = None  # the last cycle's context and log tail

    def close(self) -> None:
        self.engine.dispose()

    # ---------------------------------------------------------------------------------------- processes
    def _launch(self, args: list[str], crash_at: str | None) -> Paper:
        """A paper process on the database; on PostgreSQL its connections carry an application_name of their own,
        so that after a kill we can wait for the server to have finished with them (see _settle)."""
        from sqlalchemy.engine import make_url

        self._launched += 1
        url = self.db_url
        self._app = None
        if self.postgres:
            self._app = f"tf-crash-{self._token}-{self._launched}"
            url = make_url(url).update_query_dict({"application_name": self._app}).render_as_string(False)
        return Paper([*args, "--db", url], crash_at)

    def _settle(self) -> None:
        """After a kill: wait until the database has finished with the dead process's sessions. A PostgreSQL
        backend may still be running the dead client's last statement (a COMMIT already sent, say) when the process
        is gone: the database state is final only once those backends have ended. (SQLite commits in the process.)"""
        if self._app is None:
            return
        from sqlalchemy import text

        query = text("SELECT count(*) FROM pg_stat_activity WHERE application_name = :app")
        deadline = time.monotonic() + 30
        while True:
            with self.engine.connect() as conn:
                left = conn.execute(query, {"app": self._app}).scalar_one()
            if not left:
                return
            if time.monotonic() > deadline:
                self._ctx["settle"] = f"{left} PostgreSQL session(s) of the killed process still there after 30 s"
                return
            time.sleep(0.02)

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
        ctx: dict[str, Any] = {"cycle": i, "seed": self.seed, "kind": kind, "runs before": self._runs_before,
                               "simulator cursor at start": self.sim.cursor, "advanced": 0}  # fmt: skip
        self._ctx = ctx
        if self.started:  # resume by name through the service start_paper (the CLI's code path, faster start)
            args = ["--service", "--name", self.name, *self.common]
        else:  # the first start through the `tradeforge paper` command itself
            args = [*self.spec, "--name", self.name, *self.common]
        paper = self._launch(args, crash_at)
        ctx["pid"] = paper.proc.pid
        try:
            try:
                self._drive(paper, rng, kind, ctx)
            finally:
                self_killed = not paper.alive() and paper.proc.returncode == -signal.SIGKILL
                ctx["killed after"] = round(time.monotonic() - paper.t0, 3)
                ctx["self-killed"] = self_killed
                paper.kill()
                self._settle()
                ctx["returncode"] = paper.proc.returncode
            if paper.proc.returncode != -signal.SIGKILL:
                raise AssertionError(f"cycle {i}: the paper process ended with {paper.proc.returncode}")
            log = paper.drain()
            if "Traceback" in log or "ResumeError" in log:
                raise AssertionError(f"cycle {i}: the paper process failed")
            problems = len(self.problems)
            landed = self.classify(log, kind)
            ctx["landed"] = landed
            if len(self.problems) > problems:  # explain them
                self.problems[problems:] = [self.diagnose(f"cycle {i}: {p}", paper) for p in self.problems[problems:]]
            if kind == "timer" and self.sim is not None:
                down = rng.randint(0, 2)
                if down:
                    self.sim.advance(down)  # bars may close while the bot is down
                    ctx["advanced while down"] = down
        except Exception as exc:
            raise AssertionError(self.diagnose(f"{type(exc).__name__}: {exc}", paper)) from exc
        report = CycleReport(kind, landed, self_killed, time.monotonic() - t0)
        self.reports.append(report)
        self._previous = (ctx, paper.tail(25))
        if os.environ.get("TF_CRASH_VERBOSE"):
            print(f"cycle {i}: {report}", file=sys.stderr, flush=True)
        return report

    def _drive(self, paper: Paper, rng: random.Random, kind: str, ctx: dict[str, Any]) -> None:
        """Let the paper process run until the planned kill moment (the caller kills it)."""
        if kind == "timer_startup":
            ctx["startup sleep"] = round(rng.uniform(0.2, 2.5), 3)
            time.sleep(ctx["startup sleep"])  # start-up, resume checks, replay of the bars
            return
        if not paper.wait_for("warm-up done", timeout=WARMUP_TIMEOUT):
            if paper.alive():
                paper.dump_stacks()
                raise AssertionError(f"no warm-up within {WARMUP_TIMEOUT:.0f} s")
            raise AssertionError(f"the paper process died before its warm-up was done (rc {paper.proc.returncode})")
        ctx["warm-up done after"] = round(time.monotonic() - paper.t0, 3)
        self.started = True
        kill_after = rng.uniform(0.0, 0.6) if kind == "timer" else None
        t_live = time.monotonic()
        budget = rng.randint(3, 8) if kind == "timer" else 30
        ctx["plan"] = f"kill {kill_after:.3f} s after warm-up, at most {budget} bars" if kill_after is not None else (
            f"the kill point within {budget} bars, else an idle kill")  # fmt: skip
        for _ in range(budget):
            if not paper.alive():
                break
            if kill_after is not None and time.monotonic() - t_live >= kill_after:
                break
            self.sim.advance()
            ctx["advanced"] += 1
            if kill_after is None and not self._caught_up(paper, timeout=CATCH_UP_TIMEOUT):
                ctx["lagging"] = f"bar {ctx['advanced']} not run within {CATCH_UP_TIMEOUT:.0f} s"
            time.sleep(rng.uniform(0.01, 0.08))
        if kill_after is not None:
            while time.monotonic() - t_live < kill_after and paper.alive():
                time.sleep(0.005)
        elif paper.alive():
            ctx["idle kill"] = True
            time.sleep(0.3)  # the kill point did not come in these bars: killed idle instead

    def _caught_up(self, paper: Paper, timeout: float) -> bool:
        """Wait until the paper process has run the last closed bar (its snapshot is stored) or has ended. The kill
        points are thus reached bar by bar however slow the machine is (a process lagging behind the simulator would
        be killed idle, short of them)."""
        last_bar = int(self.btc.ts[self.closed_index() - 1])
        deadline = time.monotonic() + timeout
        while paper.alive():
            ts = self._last_snapshot_ts()
            if ts is not None and ts >= last_bar:
                return True
            if time.monotonic() > deadline:
                return False
            time.sleep(0.02)
        return True

    def _last_snapshot_ts(self) -> int | None:
        """The time of the last step the latest run recorded (a light query, to poll while a process runs)."""
        from tradeforge.persistence import RunMode

        with self.uows.reader() as uow:
            dep = uow.deployments.by_name(self.name)
            runs = uow.runs.list(deployment_id=dep.id, mode=RunMode.PAPER) if dep is not None else []
            curve = uow.snapshots.equity(runs[-1].id or 0) if runs else []
            return curve[-1].ts if curve else None

    # -------------------------------------------------------------------------------------------- diagnostics
    def diagnose(self, what: str, paper: Paper | None = None) -> str:
        """what went wrong, with the cycle's plan, the database state and the paper process's stderr."""
        out = [what, f"  seed {self.seed}, database {self.engine.url.get_backend_name()}, "
               f"cycles done {len(self.reports)}, summary {self.summary()}"]  # fmt: skip
        out.append("  this cycle: " + ", ".join(f"{k} {v}" for k, v in self._ctx.items()))
        try:
            out.append(f"  simulator: cursor {self.sim.cursor}, closed bars up to index {self.closed_index()}")
            out.extend("  " + line for line in self.describe_state())
        except Exception as exc:  # the diagnostics must not hide the failure
            out.append(f"  (database state unavailable: {type(exc).__name__}: {exc})")
        if self._previous is not None:
            ctx, tail = self._previous
            out.append("  previous cycle: " + ", ".join(f"{k} {v}" for k, v in ctx.items()))
            out.append("  previous paper process, stderr tail:\n" + _indent(tail))
        if paper is not None:
            out.append(f"  paper process {paper.proc.pid} (rc {paper.proc.returncode}), args {paper.args}")
            out.append("  its stderr:\n" + _indent(paper.tail(LOG_TAIL * 4 if paper.dumped else LOG_TAIL)))
        return "\n".join(out)

    def describe_state(self) -> list[str]:
        from tradeforge.core.clock import iso

        st = self.state()
        lines = []
        for r in st["runs"]:
            beat = iso(r.heartbeat_ts) if r.heartbeat_ts is not None else None
            lines.append(f"run {r.id} {r.key} {r.status.value} pid {r.info.get('pid')} heartbeat {beat} "
                         f"stop {r.stop_reason!r}")  # fmt: skip
        orders = st["orders"]
        lines.append(f"{len(orders)} orders, {len(st['fills'])} fills, {len(st['trades'])} trades; last snapshot "
                     f"{iso(st['last'].ts) if st['last'] is not None else None}")  # fmt: skip
        for o in orders[-6:]:
            lines.append(f"order {o.client_order_id} engine id {o.local_id} run {o.run_id} {o.side} {o.type} "
                         f"{o.status} created {iso(o.created_ts)} filled {o.filled_qty}")  # fmt: skip
        return lines

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
        self._ctx = {"cycle": "final run", "seed": self.seed, "runs before": len(self.state()["runs"]),
                     "simulator cursor at start": self.sim.cursor}  # fmt: skip
        paper = self._launch(["--name", self.name, *self.common], None)
        try:
            try:
                if not paper.wait_for("warm-up done", timeout=WARMUP_TIMEOUT):
                    paper.dump_stacks()
                    raise AssertionError(f"final run: no warm-up within {WARMUP_TIMEOUT:.0f} s")
                self._ctx["warm-up done after"] = round(time.monotonic() - paper.t0, 3)
                for _ in range(bars):
                    self.sim.advance()
                    time.sleep(0.05)
                end = self.closed_index()
                last_bar = int(self.btc.ts[end - 1])
                deadline = time.monotonic() + 60
                while time.monotonic() < deadline:
                    ts = self._last_snapshot_ts()
                    if ts is not None and ts >= last_bar:
                        break
                    if not paper.alive():
                        raise AssertionError(f"final run: the paper process ended with {paper.proc.returncode}")
                    time.sleep(0.05)
                else:
                    paper.dump_stacks()
                    raise AssertionError("final run did not reach the last bar within 60 s")
                paper.proc.send_signal(signal.SIGTERM)
                self._ctx["SIGTERM after"] = round(time.monotonic() - paper.t0, 3)
                try:
                    paper.proc.wait(timeout=STOP_TIMEOUT)
                except subprocess.TimeoutExpired:
                    paper.dump_stacks()
                    raise AssertionError(f"final run: no exit within {STOP_TIMEOUT:.0f} s of SIGTERM") from None
            finally:
                if paper.alive():
                    paper.kill()
                paper._read_to_end()
                self._settle()
                self._ctx["returncode"] = paper.proc.returncode
            if paper.proc.returncode != 0:
                raise AssertionError(f"final run ended with {paper.proc.returncode}")
            return self.final_check(end)
        except Exception as exc:
            raise AssertionError(self.diagnose(f"{type(exc).__name__}: {exc}", paper)) from exc

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
        got_fills = [(f.ts, f.qty, f.price, f.fee) for f in fills]
        want_fills = [(f.ts, f.qty, f.price, f.fee) for f in ref.fills]
        assert got_fills == want_fills, f"fills differ from the uninterrupted backtest's:\n{got_fills}\n{want_fills}"
        fill_ids = [f.fill_id for f in fills]
        assert len(set(fill_ids)) == len(fill_ids), "a fill is stored twice"
        for o in orders:  # each order's fills add up to its filled quantity
            own = [f.qty for f in fills if f.client_order_id == o.client_order_id]
            assert abs(sum(own) - o.filled_qty) < 1e-9, f"fills {own} do not add up to the order's filled qty: {o}"
        got_trades = [(t.entry_ts, t.size, t.entry_price, t.exit_ts, t.exit_price) for t in trades]
        want_trades = [
            (t.entry_ts, t.size, t.entry_price, None if t.is_open else t.exit_ts, None if t.is_open else t.exit_price)
            for t in ref.trades
        ]
        assert got_trades == want_trades, f"trades differ from the backtest's:\n{got_trades}\n{want_trades}"
        # cash and position: the last snapshot against the backtest's account after the same bars
        last = st["last"]
        last_bar = int(self.btc.ts[end - 1])
        assert last is not None and last.ts == last_bar, f"last snapshot {last and last.ts}, last closed bar {last_bar}"
        ref_cash = float(ref.cash[-1])
        out["cash"] = last.cash
        assert abs(last.cash - ref_cash) < 1e-6 * max(1.0, abs(ref_cash)), f"cash {last.cash} != backtest {ref_cash}"
        ref_equity = float(ref.equity[-1])
        assert abs(last.equity - ref_equity) < 1e-6 * abs(ref_equity), f"equity {last.equity} != backtest {ref_equity}"
        net = sum(t.size for t in ref.trades if t.is_open)
        stored_qty = self._latest_position()
        assert abs(stored_qty - net) < 1e-9, f"position {stored_qty} != backtest {net}"
        out["position"] = stored_qty
        # runs: every killed run was ended as crashed by the next start, the last stopped cleanly
        statuses = [(r.key, r.status.value, r.stop_reason) for r in runs]
        assert [r.status for r in runs[:-1]] == [RunStatus.CRASHED] * (len(runs) - 1), f"runs: {statuses}"
        assert all("process is gone" in (r.stop_reason or "") for r in runs[:-1]), f"runs: {statuses}"
        assert runs[-1].status is RunStatus.STOPPED, f"runs: {statuses}"
        keys = [r.key for r in runs]
        assert len(set(keys)) == len(keys), f"a run key is used twice: {keys}"
        open_orders = [o for o in orders if o.status not in (OrderStatus.FILLED, OrderStatus.CANCELLED,
                                                             OrderStatus.REJECTED, OrderStatus.EXPIRED)]  # fmt: skip
        out["open_orders"] = len(open_orders)
        assert not self.problems, "\n".join(self.problems)
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


def _indent(text: str) -> str:
    return "\n".join("    | " + line for line in text.splitlines())


if __name__ == "__main__":
    _main()
