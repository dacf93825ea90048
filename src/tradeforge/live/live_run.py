"""Live trading with real orders: the engine on live bars, the VenueGateway sending orders through ccxt.

``open_live_run`` starts a run of a deployment, or resumes one, as ``open_paper_run`` does for paper accounts:

- a new deployment records the account's balances of the traded base assets (the baseline reconciliation
  measures positions from) and checks the exchange holds the cash it is to trade with;
- a resumed one loads what earlier runs stored (orders with their answers and fills, trades, the last recorded
  step) and replays its bars from the origin through a new engine, every stored order getting its stored answers
  (see ``live.venue``): the strategy's state, positions and cash are those of the uninterrupted run, nothing is
  sent twice; orders left open are then looked up on the exchange;
- when live bars begin, the ``Reconciler`` compares the exchange with the records (refusing to trade on a
  difference it cannot resolve) and does so again every ``reconcile_every`` live bars.

The account settings are a ``PaperConfig`` (symbols, time frame, origin, cash, fees used to size fraction orders,
instruments from the exchange's markets); spot trading only: netting, leverage 1. Risk limits (``RiskLimits``:
max position, max orders per minute, max daily loss...) are checked before any order leaves.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import socket
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tradeforge.core.clock import format_timeframe, iso
from tradeforge.core.engine import Engine
from tradeforge.core.errors import ConfigError
from tradeforge.core.portfolio import Portfolio
from tradeforge.core.ports import Clock
from tradeforge.core.risk import RiskEngine, RiskLimits
from tradeforge.core.strategy import Strategy
from tradeforge.core.types import PositionMode
from tradeforge.data.store import BarStore
from tradeforge.live.bridge import ExchangeBridge, ExchangeUnavailable
from tradeforge.live.feed import BarFeed
from tradeforge.live.paper import PaperConfig, end_stale_runs
from tradeforge.live.reconcile import Reconciler
from tradeforge.live.recorder import PriorState, RunRecorder
from tradeforge.live.replay_script import load_scripts
from tradeforge.live.runner import LiveRunner, RunOutcome
from tradeforge.live.venue import VenueGateway
from tradeforge.persistence import DeploymentRecord, RunMode, RunRecord, UnitOfWorkFactory

log = logging.getLogger("tradeforge.live.live_run")
INFO_KEY = "live"


@dataclass(frozen=True)
class LiveConfig:
    account: PaperConfig
    risk: RiskLimits = field(default_factory=RiskLimits)
    reconcile_every: int = 10  # live bars between reconciliations
    native_stops: bool = True  # stop-losses as the exchange's own stop orders where it has them (else held here)

    def __post_init__(self) -> None:
        if self.reconcile_every < 1:
            raise ConfigError(f"reconcile_every must be at least 1 bar, got {self.reconcile_every}")
        if self.account.position_mode != PositionMode.NETTING.value or self.account.leverage != 1.0:
            raise ConfigError("live trading is spot trading here: netting positions, leverage 1")

    def to_info(self) -> dict[str, Any]:
        return {
            "account": self.account.to_info(),
            "risk": dataclasses.asdict(self.risk),
            "reconcile_every": self.reconcile_every,
            "native_stops": self.native_stops,
        }

    @classmethod
    def from_info(cls, data: Mapping[str, Any]) -> LiveConfig:
        try:
            return cls(PaperConfig.from_info(data["account"]), RiskLimits(**data.get("risk", {})),
                       int(data.get("reconcile_every", 10)), bool(data.get("native_stops", True)))  # fmt: skip
        except (KeyError, TypeError) as exc:
            raise ConfigError(f"the stored live settings are unreadable ({exc}): {dict(data)!r}") from exc


class LiveListener:
    """The runner's listener in a live run: the recorder, plus the gateway's phases and reconciliation."""

    def __init__(self, recorder: RunRecorder, gateway: VenueGateway, reconciler: Reconciler, every: int) -> None:
        self.recorder = recorder
        self.gateway = gateway
        self.reconciler = reconciler
        self.every = every
        self.live_steps = 0

    def on_step(self, ts: int, live: bool) -> None:
        self.recorder.on_step(ts, live)
        if live:
            self.live_steps += 1
            if self.live_steps % self.every == 0:
                try:
                    self.reconciler.check(when=f"periodic, bar {iso(ts)}")
                except ExchangeUnavailable as exc:  # a difference is fatal; an outage is not
                    log.error("periodic reconciliation skipped, the exchange did not answer: %s", exc)

    def on_live(self, last_warmup_ts: int | None) -> None:
        self.gateway.go_live()
        self.recorder.on_live(last_warmup_ts)
        self.reconciler.check(when="start of live trading")

    def on_kill(self, reason: str) -> None:
        self.recorder.on_kill(reason)

    def on_heartbeat(self, now: int) -> None:
        self.recorder.on_heartbeat(now)

    def on_stop(self, status: str, reason: str, now: int) -> None:
        self.recorder.on_stop(status, reason, now)


@dataclass
class LiveRun:
    record: RunRecord
    config: LiveConfig
    engine: Engine
    gateway: VenueGateway
    recorder: RunRecorder
    reconciler: Reconciler
    runner: LiveRunner
    resumed: list[RunRecord]

    async def run(self) -> RunOutcome:
        self.gateway.bridge.bind(asyncio.get_running_loop())
        return await self.runner.run()


def build_live_engine(
    strategies: Sequence[Strategy], config: LiveConfig, bridge: ExchangeBridge, **gateway: Any
) -> tuple[Engine, VenueGateway]:
    if not strategies:
        raise ConfigError("a live run needs at least one strategy")
    acct = config.account
    instruments = {s: acct.instrument(s) for s in acct.symbols}
    portfolio = Portfolio(acct.cash, instruments, mode=PositionMode.NETTING, leverage=1.0)
    venue = VenueGateway(bridge, taker_fee=acct.taker_fee, native_stops=config.native_stops, **gateway)
    engine = Engine(portfolio, venue, RiskEngine(config.risk))
    for symbol in acct.symbols:
        engine.add_stream(symbol, acct.timeframe)
    share = acct.cash / len(strategies)
    for strategy in strategies:
        engine.add_strategy(strategy, None, share)
    return engine, venue


def open_live_run(
    uows: UnitOfWorkFactory,
    deployment: DeploymentRecord,
    config: LiveConfig,
    strategies: Sequence[Strategy],
    feeds: Sequence[BarFeed],
    bridge: ExchangeBridge,
    *,
    clock: Clock,
    baseline: Mapping[str, float] | None = None,
    store: BarStore | None = None,
    source: str = "",
    kill_file: Path | None = None,
    until_ts: int | None = None,
    handle_signals: bool = True,
    takeover: bool = False,
    stale_after: int | None = None,
    poll_interval: float = 0.25,
    info: Mapping[str, Any] | None = None,
) -> LiveRun:
    """Start (or resume) a live run of the deployment (see the module doc). A new deployment needs ``baseline``
    (the account's totals of the traded base assets before the bot's first order: ``measure_baseline``)."""
    if deployment.id is None:
        raise ConfigError("store the deployment first (uow.deployments.add) and pass the stored record")
    dep_id: int = deployment.id
    with uows() as uow:
        deployment = uow.deployments.get(dep_id)
    if not deployment.enabled:
        raise ConfigError(
            f"deployment {deployment.name!r} was killed (or disabled): it does not trade again; start a new "
            "deployment under another name"
        )
    now = clock.now()
    acct = config.account
    stale = stale_after if stale_after is not None else max(3 * acct.timeframe, 120 * 1_000_000_000)
    end_stale_runs(uows, deployment, now, takeover=takeover, stale_after=stale, mode=RunMode.LIVE)
    with uows() as uow:
        earlier = uow.runs.list(deployment_id=dep_id, mode=RunMode.LIVE)
        if earlier:
            stored = LiveConfig.from_info(earlier[0].info.get(INFO_KEY) or {})
            diffs = config.account.differences(stored.account)
            if diffs or config.risk != stored.risk:
                if config.risk != stored.risk:
                    diffs.append(f"risk limits: {stored.risk} stored, {config.risk} asked")
                raise ConfigError(
                    f"deployment {deployment.name!r} trades with other settings ({'; '.join(diffs)}): resume it as it "
                    "was, or start a new deployment under another name"
                )
            config = stored
            base = earlier[0].info.get("baseline")
            if not isinstance(base, dict):
                raise ConfigError(f"the first live run of {deployment.name!r} stored no balance baseline")
            baseline = {str(k): float(v) for k, v in base.items()}
            prior = PriorState.load(uow, dep_id, earlier)
            scripts = load_scripts(uow, prior.orders)
        else:
            if baseline is None:
                raise ConfigError("a new live deployment needs the account's baseline balances (measure_baseline)")
            prior, scripts = PriorState(), {}
        run_info = {
            **(info or {}),
            INFO_KEY: config.to_info(),
            "baseline": dict(baseline),
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "resumes": earlier[-1].key if earlier else None,
            "kill_file": str(kill_file) if kill_file is not None else None,
        }
        run = uow.runs.add(RunRecord(RunMode.LIVE, now, dep_id, heartbeat_ts=now, info=run_info))
        uow.commit()
    engine, gateway = build_live_engine(strategies, config, bridge, scripts=scripts, replay_until=prior.last_ts)
    recorder = RunRecorder(uows, run, engine, clock=clock, prior=prior, deployment_id=dep_id)
    gateway.journal = recorder
    fee_rate = max(acct.maker_fee, acct.taker_fee)
    reconciler = Reconciler(uows, run, engine, gateway, baseline, clock=clock, max_fee_rate=fee_rate)
    listener = LiveListener(recorder, gateway, reconciler, config.reconcile_every)
    runner = LiveRunner(
        engine, feeds, clock=clock, start_ts=acct.origin_ts, store=store, source=source, listener=listener,
        kill_file=kill_file, until_ts=until_ts, handle_signals=handle_signals, control_interval=poll_interval,
    )  # fmt: skip
    log.info(
        "LIVE run %s of %s on %s: %s %s from %s%s",
        run.key,
        deployment.name,
        bridge.exchange.id,
        ", ".join(acct.symbols),
        format_timeframe(acct.timeframe),
        iso(acct.origin_ts),
        f", resuming {len(earlier)} earlier run(s)" if earlier else "",
    )
    return LiveRun(run, config, engine, gateway, recorder, reconciler, runner, list(earlier))


async def measure_baseline(exchange: Any, symbols: Sequence[str], cash: float) -> dict[str, float]:
    """The account's totals of the traded base assets now; ConfigError if it lacks the quote cash to trade with."""
    balance = await exchange.fetch_balance()
    totals = balance.get("total") or {}
    free = balance.get("free") or {}
    quotes = {str(exchange.market(s)["quote"]) for s in symbols}
    if len(quotes) != 1:
        raise ConfigError(f"the symbols of one live deployment must share a quote currency, got {sorted(quotes)}")
    quote = quotes.pop()
    have = float(free.get(quote) or 0.0)
    if have + 1e-9 < cash:
        raise ConfigError(
            f"the {exchange.id} account has {have:,.2f} {quote} free; the deployment is to trade with {cash:,.2f}: "
            "lower --cash or fund the account"
        )
    bases = {str(exchange.market(s)["base"]) for s in symbols}
    return {b: float(totals.get(b) or 0.0) for b in sorted(bases)}
