"""`tradeforge paper` in its own process against the local exchange simulator, then status / orders / trades / kill,
SIGTERM and a resume by name. The commands come from cli.trading.register (the app the lead wires them into)."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

pytest.importorskip("ccxt")

from tradeforge.core.bars import BarSeries
from tradeforge.core.fees import MakerTakerFee
from tradeforge.core.types import Instrument
from tradeforge.data import load_sample
from tradeforge.live.simulator import ExchangeSimulator
from tradeforge.persistence import RunStatus, SqlUnitOfWorkFactory, make_engine
from tradeforge.sim.backtest import run_backtest
from tradeforge.strategies.sma_cross import SmaCross

START, WARMUP, LIVE = 1000, 100, 40
SYM = "BTC/USDT"
APP = "import typer\nfrom tradeforge.cli.trading import register\napp = typer.Typer()\nregister(app)\napp()\n"


def cli_app() -> typer.Typer:
    from tradeforge.cli.trading import register

    app = typer.Typer()
    register(app)
    return app


class Paper:
    """A `tradeforge paper` (or other command) process whose log lines are read on a thread."""

    def __init__(self, args: list[str], env: dict[str, str], command: str = "paper") -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", APP, command, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env=env,
        )  # fmt: skip
        self.lines: queue.Queue[str] = queue.Queue()
        self.log: list[str] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.put(line)

    def wait_for(self, text: str, timeout: float = 60.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.2)
            except queue.Empty:
                if self.proc.poll() is not None:
                    break
                continue
            self.log.append(line)
            if text in line:
                return line
        raise AssertionError(f"no log line with {text!r}; got:\n{''.join(self.log)}")

    def finish(self, timeout: float = 30.0) -> tuple[int, str]:
        self.proc.wait(timeout=timeout)  # stdout is one line: it cannot fill the pipe
        self.reader.join(timeout=5)  # stderr is read by the reader thread only
        assert self.proc.stdout is not None
        return self.proc.returncode, self.proc.stdout.read()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def sim() -> Iterator[ExchangeSimulator]:
    with ExchangeSimulator(load_sample("BTC-PERP"), start=START, push_interval=0.2) as s:
        yield s


@pytest.fixture
def setup(sim: ExchangeSimulator, tmp_path: Path) -> tuple[list[str], dict[str, str], str]:
    db = f"sqlite:///{tmp_path / 'trading.db'}"
    common = ["--db", db, "--store", str(tmp_path / "bars"), "--control-dir", str(tmp_path / "control")]
    args = [*common, "--simulator-port", str(sim.port), "--poll", "0.1"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return args, env, db


def paper_bars(btc: BarSeries) -> tuple[BarSeries, Instrument]:
    """The bars a paper run with WARMUP bars of warm-up and LIVE live bars has seen, and its instrument."""
    run = slice(START - WARMUP, START + LIVE)
    bars = BarSeries.from_arrays(
        SYM, btc.timeframe, btc.ts[run], btc.open[run], btc.high[run], btc.low[run], btc.close[run], btc.volume[run]
    )
    return bars, Instrument(SYM, tick_size=0.01, lot_size=0.00001, min_notional=5.0, quote_currency="USDT")


def wait_until_bar(db: str, ts: int, timeout: float = 20.0) -> None:
    uows = SqlUnitOfWorkFactory(make_engine(db))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with uows.reader() as uow:
            runs = uow.runs.list()
            curve = uow.snapshots.equity(runs[-1].id or 0) if runs else []
        if curve and curve[-1].ts >= ts:
            return
        time.sleep(0.1)
    raise AssertionError("the paper process did not run the bar in time")


def test_paper_status_orders_trades_and_kill(
    sim: ExchangeSimulator, setup: tuple[list[str], dict[str, str], str]
) -> None:
    args, env, db = setup
    btc = load_sample("BTC-PERP")
    spec = ["--strategy", "sma_cross", "--data", f"binance:{SYM}@1m", "-p", "fast=5", "-p", "slow=15"]
    paper = Paper([*spec, "--name", "btc", "--warmup", str(WARMUP), "--commission", "0.001", *args], env)
    try:
        paper.wait_for("warm-up done")
        for _ in range(LIVE):
            sim.advance()
            time.sleep(0.02)
        wait_until_bar(db, int(btc.ts[START + LIVE - 1]))

        runner = CliRunner(env={"COLUMNS": "300"})
        shown = runner.invoke(cli_app(), ["status", "--db", db])
        assert shown.exit_code == 0, shown.output
        assert "btc" in shown.output and "running" in shown.output
        listed = runner.invoke(cli_app(), ["trades", "--db", db, "--name", "btc", "--limit", "1000"])
        assert listed.exit_code == 0, listed.output
        bars, inst = paper_bars(btc)
        result = run_backtest(
            SmaCross(fast=5, slow=15), bars, cash=10_000.0, commission=MakerTakerFee(0.001, 0.001),
            instruments={SYM: inst},
        )  # fmt: skip
        assert f"{len(result.trades)} trades, realized P&L after fees" in listed.output
        assert runner.invoke(cli_app(), ["orders", "--db", db, "--name", "btc"]).exit_code == 0

        killed = runner.invoke(cli_app(), ["kill", "btc", "--db", db, "--control-dir", args[5], "--wait", "0"])
        assert killed.exit_code == 0, killed.output
        assert "kill requested" in killed.output
        paper.wait_for("kill switch")
        sim.advance()  # the flattening order fills at the next bar's open
        code, out = paper.finish()
        assert code == 0 and "stopped (kill switch" in out
    finally:
        paper.kill()
    shown = CliRunner(env={"COLUMNS": "300"}).invoke(cli_app(), ["status", "--db", db])
    assert "(killed)" in shown.output
    again = Paper(["--name", "btc", *args], env)
    code, _ = again.finish()
    assert code == 1 and "was killed" in "".join(again.lines.queue)


def test_sigterm_stops_paper_and_the_same_name_resumes(
    sim: ExchangeSimulator, setup: tuple[list[str], dict[str, str], str]
) -> None:
    args, env, db = setup
    toml = Path(db.removeprefix("sqlite:///")).with_name("eth.toml")
    toml.write_text(
        f'name = "eth"\nstrategy = "sma_cross"\ndata = "binance:{SYM}@1m"\nwarmup = 50\n[params]\nfast = 4\n'
    )
    paper = Paper(["--config", str(toml), "--param", "slow=12", *args], env)
    try:
        paper.wait_for("warm-up done")
        sim.advance(3)
        paper.proc.send_signal(signal.SIGTERM)
        code, out = paper.finish()
        assert code == 0 and "stopped (signal SIGTERM)" in out
    finally:
        paper.kill()
    sim.advance(2)
    resumed = Paper(["--name", "eth", *args], env)
    try:
        resumed.wait_for("resuming 1 earlier run")
        resumed.wait_for("reproduces the stored account")
        resumed.proc.send_signal(signal.SIGINT)
        code, out = resumed.finish()
        assert code == 0 and "resuming 1 earlier run" in out
    finally:
        resumed.kill()
    refused = Paper(["--name", "eth", "--cash", "500", *args], env)
    code, _ = refused.finish()
    assert code == 1 and "other settings (cash: 10000.0 stored, 500.0 asked)" in "".join(refused.lines.queue)
    uows = SqlUnitOfWorkFactory(make_engine(db))
    with uows.reader() as uow:
        runs = uow.runs.list()
        assert uow.deployments.by_name("eth").parameters == {"fast": 4, "slow": 12}  # type: ignore[union-attr]
    assert [(r.status, r.stop_reason) for r in runs] == [
        (RunStatus.STOPPED, "signal SIGTERM"),
        (RunStatus.STOPPED, "signal SIGINT"),
    ]


BACKTESTING_PY_FILE = """
import pandas as pd

from tradeforge.compat import Strategy
from tradeforge.compat.lib import crossover


class SmaCross(Strategy):
    n1 = 10
    n2 = 20

    def init(self):
        close = pd.Series(self.data.Close)
        self.sma1 = self.I(lambda: close.rolling(self.n1).mean())
        self.sma2 = self.I(lambda: close.rolling(self.n2).mean())

    def next(self):
        if crossover(self.sma1, self.sma2):
            self.position.close()
            self.buy()
        elif crossover(self.sma2, self.sma1):
            self.position.close()
            self.sell()
"""


def test_paper_runs_a_backtesting_py_strategy_file_unchanged(
    sim: ExchangeSimulator, setup: tuple[list[str], dict[str, str], str], tmp_path: Path
) -> None:
    from tradeforge.core.strategy import Strategy
    from tradeforge.service.strategy_loader import load_strategy_class

    args, env, db = setup
    path = tmp_path / "bt_sma.py"
    path.write_text(BACKTESTING_PY_FILE)
    btc = load_sample("BTC-PERP")
    spec = ["--strategy", f"{path}:SmaCross", "--data", f"binance:{SYM}@1m", "-p", "n1=5", "-p", "n2=15"]
    paper = Paper([*spec, "--name", "btpy", "--warmup", str(WARMUP), "--commission", "0.001", *args], env)
    try:
        paper.wait_for("warm-up done")
        for _ in range(LIVE):
            sim.advance()
            time.sleep(0.02)
        wait_until_bar(db, int(btc.ts[START + LIVE - 1]))
        listed = CliRunner(env={"COLUMNS": "300"}).invoke(
            cli_app(), ["trades", "--db", db, "--name", "btpy", "--limit", "1000"]
        )
        assert listed.exit_code == 0, listed.output
        paper.proc.send_signal(signal.SIGTERM)
        code, _ = paper.finish()
        assert code == 0
    finally:
        paper.kill()
    bars, inst = paper_bars(btc)
    klass = load_strategy_class(f"{path}:SmaCross")
    assert issubclass(klass, Strategy) and klass._compat_class.__name__ == "SmaCross"  # hosted
    result = run_backtest(
        klass(n1=5, n2=15), bars, cash=10_000.0, commission=MakerTakerFee(0.001, 0.001), instruments={SYM: inst}
    )
    assert len(result.trades) >= 3  # the crosses of 140 one-minute bars were traded
    assert f"{len(result.trades)} trades, realized P&L after fees" in listed.output
