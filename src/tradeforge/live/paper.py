"""Paper trading: the backtest's simulated broker on live bars, every order written ahead, resumable after a restart.

``PaperGateway`` is the SimulatedBroker (the same fill model and fees a backtest uses) with one addition: each order
is handed to a journal (the RunRecorder) before the broker takes it, the write-ahead rule of live trading. It
matches orders against live bars as they close, so paper fills are those a backtest of the same bars would make.

``PaperConfig`` is the paper account: symbols, time frame, origin (the first bar it trades), cash, fees, fill model,
position mode, leverage and instruments. It is stored with each run, and a deployment keeps its first run's.

``open_paper_run`` starts a run of a deployment, or resumes one: earlier runs still marked running are ended as
crashed (their process is gone or silent) or refused (still alive); the new run replays the deployment's bars from
its origin through a new engine, matched against what the earlier runs stored (see ``live.recorder``), so the
open position, the working orders, the cash and the strategy's own state are those of an uninterrupted run, and it
goes on trading live from there. A deployment that was killed (kill switch) is not resumed.

The gateway protocol (``core.ports.ExecutionGateway``) plus the journal's ``before_send`` is the extension point for
a venue gateway sending real orders (ccxt): it would store the order through the journal, send it with its client
order id, and report the venue's answers to the engine as this broker does.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import socket
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from tradeforge.core.clock import format_timeframe, iso
from tradeforge.core.engine import Engine
from tradeforge.core.errors import ConfigError
from tradeforge.core.fees import FeeModel, MakerTakerFee
from tradeforge.core.fills import FillModel
from tradeforge.core.orders import Order
from tradeforge.core.portfolio import Portfolio
from tradeforge.core.ports import Clock
from tradeforge.core.risk import RiskEngine, RiskLimits
from tradeforge.core.strategy import Strategy
from tradeforge.core.types import FillTiming, Instrument, PositionMode
from tradeforge.data.store import BarStore
from tradeforge.live.feed import BarFeed
from tradeforge.live.recorder import PriorState, RunRecorder
from tradeforge.live.runner import LiveRunner, RunOutcome
from tradeforge.persistence import DeploymentRecord, RunMode, RunRecord, RunStatus, UnitOfWorkFactory
from tradeforge.sim.broker import SimulatedBroker

log = logging.getLogger("tradeforge.live.paper")
INFO_KEY = "paper"


class OrderJournal(Protocol):
    def before_send(self, order: Order) -> None:
        """Store the order durably before the gateway acts on it."""
        ...


class PaperGateway(SimulatedBroker):
    """The simulated broker with a write-ahead journal: ``journal.before_send(order)`` runs before it takes an
    order (set ``journal`` once the recorder exists)."""

    def __init__(
        self, fill_model: FillModel | None = None, fees: FeeModel | None = None, journal: OrderJournal | None = None
    ) -> None:
        super().__init__(fill_model, fees)
        self.journal = journal

    def submit(self, order: Order) -> None:
        if self.journal is not None:
            self.journal.before_send(order)
        super().submit(order)


# ------------------------------------------------------------------------------------------------------ config
@dataclass(frozen=True)
class PaperConfig:
    """A paper account. origin_ts: open time of the first bar it trades (the warm-up starts there)."""

    symbols: tuple[str, ...]
    timeframe: int
    origin_ts: int
    cash: float = 10_000.0
    maker_fee: float = 0.0
    taker_fee: float = 0.0
    slippage: float = 0.0
    spread: float = 0.0
    fill_timing: str = FillTiming.NEXT_OPEN.value
    position_mode: str = PositionMode.NETTING.value
    leverage: float = 1.0
    instruments: tuple[Instrument, ...] = field(default_factory=tuple)
    risk: dict[str, Any] = field(default_factory=dict)  # RiskLimits fields (max_daily_loss, max_position_value...)

    def __post_init__(self) -> None:
        self.risk_limits()  # validates
        if not self.symbols:
            raise ConfigError("a paper account needs at least one symbol")
        if self.timeframe <= 0:
            raise ConfigError(f"the time frame must be positive, got {self.timeframe} ns")
        try:
            FillTiming(self.fill_timing)
            PositionMode(self.position_mode)
        except ValueError as exc:
            raise ConfigError(f"{exc}: fill timing is next_open or close; position mode netting or hedging") from exc
        MakerTakerFee(self.maker_fee, self.taker_fee)  # validates
        FillModel(FillTiming(self.fill_timing), self.slippage, self.spread)
        known = {i.symbol for i in self.instruments}
        extra = known - set(self.symbols)
        if extra:
            raise ConfigError(f"instruments given for symbols the account does not trade: {sorted(extra)}")

    def instrument(self, symbol: str) -> Instrument:
        return next((i for i in self.instruments if i.symbol == symbol), Instrument(symbol))

    def risk_limits(self) -> RiskLimits:
        try:
            return RiskLimits(**self.risk)
        except TypeError as exc:
            known = ", ".join(f.name for f in dataclasses.fields(RiskLimits))
            raise ConfigError(f"risk limits: {exc}; known: {known}") from exc

    def fill_model(self) -> FillModel:
        return FillModel(FillTiming(self.fill_timing), self.slippage, self.spread)

    def fees(self) -> MakerTakerFee:
        return MakerTakerFee(self.maker_fee, self.taker_fee)

    def to_info(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["symbols"] = list(self.symbols)
        data["instruments"] = [dataclasses.asdict(i) for i in self.instruments]
        return data

    @classmethod
    def from_info(cls, data: Mapping[str, Any]) -> PaperConfig:
        try:
            values = dict(data)
            values["symbols"] = tuple(values["symbols"])
            values["instruments"] = tuple(Instrument(**i) for i in values.get("instruments", ()))
            return cls(**values)
        except (KeyError, TypeError) as exc:
            raise ConfigError(f"the stored paper account settings are unreadable ({exc}): {dict(data)!r}") from exc

    def differences(self, other: PaperConfig) -> list[str]:
        """What differs from other, the origin aside (a resumed deployment keeps its first run's origin)."""
        out = []
        for f in dataclasses.fields(self):
            if f.name == "origin_ts":
                continue
            mine, theirs = getattr(self, f.name), getattr(other, f.name)
            if mine != theirs:
                out.append(f"{f.name}: {theirs!r} stored, {mine!r} asked")
        return out


def build_paper_engine(strategies: Sequence[Strategy], config: PaperConfig) -> tuple[Engine, PaperGateway]:
    """The engine a paper run drives, wired as run_backtest wires a backtest: one account, the cash split equally
    between the strategies, each trading every symbol; growing streams for the live bars."""
    if not strategies:
        raise ConfigError("a paper run needs at least one strategy")
    instruments = {s: config.instrument(s) for s in config.symbols}
    portfolio = Portfolio(config.cash, instruments, mode=PositionMode(config.position_mode), leverage=config.leverage)
    gateway = PaperGateway(config.fill_model(), config.fees())
    engine = Engine(portfolio, gateway, RiskEngine(config.risk_limits()))
    for symbol in config.symbols:
        engine.add_stream(symbol, config.timeframe)
    share = config.cash / len(strategies)
    for strategy in strategies:
        engine.add_strategy(strategy, None, share)
    return engine, gateway


# --------------------------------------------------------------------------------------------------------- runs
@dataclass
class PaperRun:
    """A prepared paper run: call ``await paper_run.run()``."""

    record: RunRecord
    config: PaperConfig
    engine: Engine
    gateway: PaperGateway
    recorder: RunRecorder
    runner: LiveRunner
    resumed: list[RunRecord]  # the earlier runs it continues (oldest first)

    async def run(self) -> RunOutcome:
        return await self.runner.run()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def end_stale_runs(uows: UnitOfWorkFactory, deployment: DeploymentRecord, now: int, *, takeover: bool,
                   stale_after: int, mode: RunMode = RunMode.PAPER) -> None:  # fmt: skip
    """End earlier runs still marked running as crashed, or refuse when one looks alive."""
    host = socket.gethostname()
    with uows() as uow:
        running = uow.runs.list(deployment_id=deployment.id, mode=mode, status=RunStatus.RUNNING)
        for run in running:
            assert run.id is not None
            beat = run.heartbeat_ts if run.heartbeat_ts is not None else run.started_ts
            pid = run.info.get("pid")
            gone = run.info.get("host") == host and isinstance(pid, int) and not _alive(pid)
            silent = now - beat > stale_after
            if not (takeover or gone or silent):
                raise ConfigError(
                    f"deployment {deployment.name!r} is already running (run {run.key}, pid {pid} on "
                    f"{run.info.get('host')}, last heartbeat {iso(beat)}): stop it first (`tradeforge kill "
                    f"{deployment.name}`, or SIGTERM), or take over with --takeover if that process is gone"
                )
            why = "taken over" if takeover else ("its process is gone" if gone else f"silent since {iso(beat)}")
            log.warning("run %s of %s was still marked running (%s): ended as crashed", run.key, deployment.name, why)
            uow.runs.finish(run.id, RunStatus.CRASHED, now, f"found running at a restart: {why}")
        uow.commit()


def open_paper_run(
    uows: UnitOfWorkFactory,
    deployment: DeploymentRecord,
    config: PaperConfig,
    strategies: Sequence[Strategy],
    feeds: Sequence[BarFeed],
    *,
    clock: Clock,
    store: BarStore | None = None,
    source: str = "",
    kill_file: Path | None = None,
    until_ts: int | None = None,
    handle_signals: bool = True,
    takeover: bool = False,
    stale_after: int | None = None,
    poll_interval: float = 0.25,
    info: Mapping[str, Any] | None = None,
) -> PaperRun:
    """Start (or resume) a paper run of the deployment; see the module doc. config.origin_ts is used only for the
    deployment's first run: a resumed deployment keeps the settings of its first run (different ones are refused)."""
    if deployment.id is None:
        raise ConfigError("store the deployment first (uow.deployments.add) and pass the stored record")
    dep_id: int = deployment.id
    with uows() as uow:
        deployment = uow.deployments.get(dep_id)  # as stored now (a kill disables it)
    if not deployment.enabled:
        raise ConfigError(
            f"deployment {deployment.name!r} was killed (or disabled): it does not trade again; start a new "
            "deployment under another name"
        )
    now = clock.now()
    stale = stale_after if stale_after is not None else max(3 * config.timeframe, 120 * 1_000_000_000)
    end_stale_runs(uows, deployment, now, takeover=takeover, stale_after=stale)
    with uows() as uow:
        earlier = uow.runs.list(deployment_id=deployment.id, mode=RunMode.PAPER)
        if earlier:
            stored = PaperConfig.from_info(earlier[0].info.get(INFO_KEY) or {})
            diffs = config.differences(stored)
            if diffs:
                raise ConfigError(
                    f"deployment {deployment.name!r} trades with other settings ({'; '.join(diffs)}): resume it as it "
                    "was (leave those options out), or start a new deployment under another name"
                )
            config = stored
            prior = PriorState.load(uow, dep_id, earlier)
        else:
            prior = PriorState()
        run_info = {
            **(info or {}),
            INFO_KEY: config.to_info(),
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "resumes": earlier[-1].key if earlier else None,
            "kill_file": str(kill_file) if kill_file is not None else None,
        }
        run = uow.runs.add(RunRecord(RunMode.PAPER, now, deployment.id, heartbeat_ts=now, info=run_info))
        uow.commit()
    engine, gateway = build_paper_engine(strategies, config)
    recorder = RunRecorder(uows, run, engine, clock=clock, prior=prior, deployment_id=deployment.id)
    gateway.journal = recorder
    runner = LiveRunner(
        engine,
        feeds,
        clock=clock,
        start_ts=config.origin_ts,
        store=store,
        source=source,
        listener=recorder,
        kill_file=kill_file,
        until_ts=until_ts,
        handle_signals=handle_signals,
        control_interval=poll_interval,
    )
    log.info(
        "paper run %s of %s: %s %s from %s%s",
        run.key,
        deployment.name,
        ", ".join(config.symbols),
        format_timeframe(config.timeframe),
        iso(config.origin_ts),
        f", resuming {len(earlier)} earlier run(s)" if earlier else "",
    )
    return PaperRun(run, config, engine, gateway, recorder, runner, list(earlier))
