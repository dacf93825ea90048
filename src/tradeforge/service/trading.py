"""Trading use cases behind `tradeforge paper / status / orders / trades / kill`.

This is where a paper run's concrete adapters are built (until a service/bootstrap module takes the wiring over):
the database (``open_database``), the bar store, ccxt's async exchange (ccxt.pro's for the websocket candles; the
local simulator when ``simulator_port`` is given), the feeds and the wall clock; the live layer gets them all
passed in. Real-money trading (``tradeforge live``) is wired in ``service.live`` from the same parts.

A deployment is named; its first paper run fixes its strategy, parameters, data and account. Starting the same
name again resumes it (from the database and the bar store, see ``tradeforge.live.paper``). ``kill`` asks the
running process, through a kill file it watches, to cancel every order, flatten and stop; a killed deployment does
not trade again.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any
from urllib.parse import quote

from tradeforge.core.clock import iso, parse_timeframe
from tradeforge.core.errors import ConfigError
from tradeforge.core.ports import Clock
from tradeforge.core.types import Instrument
from tradeforge.data.names import parse_store_ref
from tradeforge.data.store import BarStore, moment_ns
from tradeforge.live.clock import WallClock
from tradeforge.live.feed import CcxtFeed
from tradeforge.live.paper import INFO_KEY, PaperConfig, open_paper_run
from tradeforge.live.runner import RunOutcome
from tradeforge.persistence import (
    DeploymentRecord,
    RunMode,
    RunRecord,
    RunStatus,
    SqlUnitOfWorkFactory,
    open_database,
)
from tradeforge.service.data import store_root
from tradeforge.service.strategy_loader import load_strategy_class

log = logging.getLogger("tradeforge.service.trading")
SIMULATOR_SOURCE = "simulator"


# ---------------------------------------------------------------------------------------------------------- spec
@dataclass(frozen=True)
class PaperSpec:
    """What `tradeforge paper` is asked to run. Every field but name may be left out to resume a deployment."""

    name: str = ""
    strategy: str = ""  # built-in name (sma_cross) or file.py[:Class]
    data: tuple[str, ...] = ()  # exchange:SYMBOL@tf, e.g. binance:BTC/USDT@1m
    params: dict[str, Any] = field(default_factory=dict)
    # the account: None means "not given" (a new deployment takes the default in brackets, a resumed one keeps its
    # own; a resumed deployment refuses a value other than its own)
    cash: float | None = None  # [10,000]
    commission: float | None = None  # fraction of value per fill [the market's maker / taker fees]
    slippage: float | None = None  # [0]
    spread: float | None = None  # [0]
    fill: str | None = None  # [next_open]
    hedging: bool | None = None  # [False]
    leverage: float | None = None  # [1]
    warmup: int | None = None  # bars of history a new deployment starts with, traded like a backtest's first [300]
    risk: dict[str, Any] | None = None  # RiskLimits fields, e.g. {"max_daily_loss": 200} [none]

    def deployment_name(self) -> str:
        if self.name:
            return self.name
        if not self.strategy or not self.data:
            raise ConfigError("name the deployment (--name) or give --strategy and --data to make one")
        return f"{Path(self.strategy.split(':')[0]).stem}-{'+'.join(self.data)}"


def spec_from_toml(path: Path) -> PaperSpec:
    """A PaperSpec from a TOML file: the PaperSpec fields at the top level, strategy parameters in [params].

    name = "btc-sma"
    strategy = "sma_cross"
    data = ["binance:BTC/USDT@1m"]
    cash = 10000
    [params]
    fast = 10
    """
    try:
        raw = tomllib.loads(Path(path).read_text())
    except FileNotFoundError as exc:
        raise ConfigError(f"deployment file {path} does not exist") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"deployment file {path} is not valid TOML: {exc}") from exc
    known = {f.name for f in fields(PaperSpec)}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise ConfigError(f"{path}: unknown setting(s) {unknown}; known: {', '.join(sorted(known))}")
    if isinstance(raw.get("data"), str):
        raw["data"] = [raw["data"]]
    if "data" in raw:
        raw["data"] = tuple(raw["data"])
    if not isinstance(raw.get("params", {}), dict):
        raise ConfigError(f"{path}: [params] must be a table of strategy parameters")
    if not isinstance(raw.get("risk", {}), dict):
        raise ConfigError(f"{path}: [risk] must be a table of risk limits (max_daily_loss = 200, ...)")
    try:
        return PaperSpec(**raw)
    except TypeError as exc:
        raise ConfigError(f"{path}: {exc}") from exc


def replace_spec(spec: PaperSpec, changes: dict[str, Any]) -> PaperSpec:
    """spec with the given fields changed (e.g. command-line options over a TOML file)."""
    known = {f.name for f in fields(PaperSpec)}
    unknown = sorted(set(changes) - known)
    if unknown:
        raise ConfigError(f"unknown deployment setting(s) {unknown}; known: {', '.join(sorted(known))}")
    if isinstance(changes.get("data"), str):
        changes = {**changes, "data": (changes["data"],)}
    return replace(spec, **changes)


def parse_time(text: str) -> int:
    """ISO 8601 text (UTC when it names no zone) -> int ns."""
    value = moment_ns(text, "until")
    if value is None:
        raise ConfigError(f"cannot read the time {text!r}: write e.g. 2024-01-31T12:00:00Z")
    return value


@dataclass(frozen=True)
class Market:
    exchange: str
    symbol: str
    timeframe: str


def parse_markets(data: tuple[str, ...]) -> list[Market]:
    """'binance:BTC/USDT@1m' -> Market('binance', 'BTC/USDT', '1m'); one exchange and one time frame for all."""
    if not data:
        raise ConfigError("no data given: pass --data exchange:SYMBOL@TIMEFRAME, e.g. binance:BTC/USDT@1m")
    out = []
    for text in data:
        ref = parse_store_ref(text)
        if ref is None or ref.timeframe is None:
            raise ConfigError(f"data {text!r} must look like exchange:SYMBOL@TIMEFRAME, e.g. binance:BTC/USDT@1m")
        out.append(Market(ref.source.lower(), ref.symbol, ref.timeframe))
    if len({m.exchange for m in out}) > 1 or len({m.timeframe for m in out}) > 1:
        raise ConfigError(f"one exchange and one time frame per deployment, got {list(data)}")
    if len({m.symbol for m in out}) != len(out):
        raise ConfigError(f"a symbol is given twice in {list(data)}")
    return out


# ------------------------------------------------------------------------------------------------------ places
def control_dir(explicit: str | os.PathLike[str] | None = None) -> Path:
    """Where kill files go: explicit, $TRADEFORGE_CONTROL_DIR, or <data folder>/tradeforge/control."""
    if explicit is not None and str(explicit):
        return Path(explicit).expanduser()
    env = os.environ.get("TRADEFORGE_CONTROL_DIR")
    if env:
        return Path(env).expanduser()
    return store_root(None).parent / "control"


def kill_file_for(name: str, folder: Path) -> Path:
    return folder / f"{quote(name, safe='')}.kill"


def _uows(db_url: str | None) -> SqlUnitOfWorkFactory:
    return SqlUnitOfWorkFactory(open_database(db_url))


# ------------------------------------------------------------------------------------------------------- paper
@dataclass(frozen=True)
class PaperReport:
    deployment: str
    run_key: str
    resumed: int  # earlier runs it continued
    outcome: RunOutcome
    orders: int
    trades: int
    mode: str = "paper"


ExchangeFactory = Callable[[str], Any]


def make_exchange(exchange_id: str, simulator_port: int | None = None) -> Any:
    """ccxt.pro's client for the exchange (ccxt's async one if ccxt.pro lacks it), or the simulator's."""
    try:
        import ccxt.async_support as ccxt_async
        import ccxt.pro as ccxt_pro
    except ImportError as exc:  # pragma: no cover - ccxt is a dependency
        raise ConfigError("paper trading needs the ccxt package: pip install ccxt") from exc
    if simulator_port is not None:
        from tradeforge.live.simulator import point_ccxt_at

        if exchange_id != "binance":
            raise ConfigError(f"the local simulator speaks binance's API: use binance:SYMBOL@TF, not {exchange_id}")
        exchange = ccxt_pro.binance({"enableRateLimit": False, "timeout": 5000})
        point_ccxt_at(exchange, simulator_port)
        return exchange
    for module in (ccxt_pro, ccxt_async):
        klass = getattr(module, exchange_id, None)
        if klass is not None:
            return klass({"enableRateLimit": True})
    raise ConfigError(f"ccxt does not know the exchange {exchange_id!r} (see ccxt.exchanges)")


def instrument_of(exchange: Any, symbol: str) -> Instrument:
    """An Instrument from the exchange's market: price tick, amount step, minimum order value, contract size."""
    market = exchange.market(symbol)
    precision = market.get("precision") or {}
    tick_mode = getattr(exchange, "precisionMode", None) == 4  # ccxt.TICK_SIZE

    def step(value: Any, default: float) -> float:
        if value is None:
            return default
        return float(value) if tick_mode else 10.0 ** -int(value)

    limits = market.get("limits") or {}
    min_cost = (limits.get("cost") or {}).get("min") or 0.0
    return Instrument(
        symbol,
        tick_size=step(precision.get("price"), 0.01),
        lot_size=step(precision.get("amount"), 1e-8),
        min_notional=float(min_cost),
        quote_currency=str(market.get("quote") or "USD"),
        multiplier=float(market.get("contractSize") or 1.0),
    )


def start_paper(
    spec: PaperSpec,
    *,
    db_url: str | None = None,
    store: str | os.PathLike[str] | None = None,
    simulator_port: int | None = None,
    control: str | os.PathLike[str] | None = None,
    takeover: bool = False,
    until: int | None = None,
    stream: bool = True,
    poll_interval: float = 1.0,
    clock: Clock | None = None,
    exchange_factory: ExchangeFactory | None = None,
    handle_signals: bool = True,
) -> PaperReport:
    """Run a paper deployment until it is stopped (SIGINT/SIGTERM, `tradeforge kill`, `until`): start it, or resume it
    when a deployment of that name exists. Blocks; returns how the run ended."""
    uows = _uows(db_url)
    name = spec.deployment_name()
    with uows.reader() as uow:
        existing = uow.deployments.by_name(name)
    if existing is None:
        if not spec.strategy or not spec.data:
            raise ConfigError(f"there is no deployment {name!r}: give --strategy and --data to start one")
        klass = load_strategy_class(spec.strategy)
        klass(**spec.params)  # unknown parameters are refused here, with the known ones listed
        markets = parse_markets(spec.data)
        deployment = DeploymentRecord(
            name,
            spec.strategy,
            dict(spec.params),
            tuple(m.symbol for m in markets),
            (markets[0].timeframe,),
            f"paper:{markets[0].exchange}" + (":simulator" if simulator_port is not None else ""),
        )
    else:
        deployment = existing
        _check_same(spec, existing)
        klass = load_strategy_class(existing.strategy)
        markets = parse_markets(tuple(f"{existing.account.split(':')[1]}:{s}@{existing.timeframes[0]}"
                                      for s in existing.symbols))  # fmt: skip
    source = SIMULATOR_SOURCE if simulator_port is not None else markets[0].exchange
    folder = control_dir(control)
    folder.mkdir(parents=True, exist_ok=True)
    kill_file = kill_file_for(name, folder)
    if kill_file.exists():
        log.warning("removing the stale kill file %s", kill_file)
        kill_file.unlink()
    factory = exchange_factory or (lambda exchange_id: make_exchange(exchange_id, simulator_port))
    args = _Args(spec, deployment, existing is not None, markets, source, kill_file, takeover, until, stream,
                 poll_interval, clock or WallClock(), handle_signals)  # fmt: skip
    return asyncio.run(_run_paper(uows, klass, BarStore(store_root(store)), factory, args))


@dataclass
class _Args:
    spec: PaperSpec
    deployment: DeploymentRecord
    resuming: bool
    markets: list[Market]
    source: str
    kill_file: Path
    takeover: bool
    until: int | None
    stream: bool
    poll_interval: float
    clock: Clock
    handle_signals: bool


def _check_same(spec: PaperSpec, dep: DeploymentRecord) -> None:
    """A spec naming an existing deployment may only repeat what it is."""
    diffs = []
    if spec.strategy and spec.strategy != dep.strategy:
        diffs.append(f"strategy {dep.strategy!r}, not {spec.strategy!r}")
    if spec.params and spec.params != dep.parameters:
        diffs.append(f"parameters {dep.parameters}, not {spec.params}")
    if spec.data:
        symbols = tuple(m.symbol for m in parse_markets(spec.data))
        if symbols != dep.symbols or parse_markets(spec.data)[0].timeframe != dep.timeframes[0]:
            diffs.append(f"data {', '.join(dep.symbols)} @ {dep.timeframes[0]}, not {', '.join(spec.data)}")
    if diffs:
        raise ConfigError(
            f"deployment {dep.name!r} exists with {'; '.join(diffs)}: resume it with `tradeforge paper --name "
            f"{dep.name}` alone, or give the new one another --name"
        )


async def _run_paper(
    uows: SqlUnitOfWorkFactory, klass: Any, store: BarStore, factory: ExchangeFactory, a: _Args
) -> PaperReport:
    spec, clock = a.spec, a.clock
    exchange = factory(a.markets[0].exchange)
    try:
        await exchange.load_markets()
        for m in a.markets:
            if m.symbol not in exchange.markets:
                raise ConfigError(f"{exchange.id} has no market {m.symbol!r}")
        tf = parse_timeframe(a.markets[0].timeframe)
        instruments = tuple(instrument_of(exchange, m.symbol) for m in a.markets)
        first = exchange.market(a.markets[0].symbol)
        stored = _stored_config(uows, a.deployment) if a.resuming else None
        if stored is not None:
            asked = replace(stored, **_account_changes(spec))
            diffs = asked.differences(stored)
            if diffs:
                raise ConfigError(
                    f"deployment {a.deployment.name!r} trades with other settings ({'; '.join(diffs)}): resume it as "
                    "it was (leave those options out), or start a new deployment under another name"
                )
            config = stored
        else:
            fees = (float(first.get("maker") or 0.0), float(first.get("taker") or 0.0))
            origin = await _origin(exchange, a.markets[0], tf, clock, 300 if spec.warmup is None else spec.warmup)
            base = PaperConfig(tuple(m.symbol for m in a.markets), tf, origin, 10_000.0, *fees, instruments=instruments)
            config = replace(base, **_account_changes(spec))
        deployment = a.deployment
        if not a.resuming:
            with uows() as uow:
                deployment = uow.deployments.add(replace(deployment, created_ts=clock.now(), updated_ts=clock.now()))
                uow.commit()
        streaming = a.stream and bool(exchange.has.get("watchOHLCV"))
        feeds = [
            CcxtFeed(exchange, m.symbol, m.timeframe, clock=clock, stream=streaming, poll_interval=a.poll_interval)
            for m in a.markets
        ]
        strategy = klass(**deployment.parameters)
        paper = open_paper_run(
            uows, deployment, config, [strategy], feeds, clock=clock, store=store, source=a.source,
            kill_file=a.kill_file, until_ts=a.until, handle_signals=a.handle_signals, takeover=a.takeover,
            info={"exchange": exchange.id, "strategy": deployment.strategy},
        )  # fmt: skip
        outcome = await paper.run()
        engine = paper.engine
        return PaperReport(
            deployment.name, paper.record.key, len(paper.resumed), outcome, len(engine.orders),
            len(engine.portfolio.all_trades()),
        )  # fmt: skip
    finally:
        await exchange.close()


def _account_changes(spec: PaperSpec) -> dict[str, Any]:
    """The paper account settings the spec gives (those left None are not given)."""
    out: dict[str, Any] = {}
    if spec.cash is not None:
        out["cash"] = float(spec.cash)
    if spec.commission is not None:
        out["maker_fee"] = out["taker_fee"] = float(spec.commission)
    for name in ("slippage", "spread", "leverage"):
        value = getattr(spec, name)
        if value is not None:
            out[name] = float(value)
    if spec.fill is not None:
        out["fill_timing"] = spec.fill
    if spec.hedging is not None:
        out["position_mode"] = "hedging" if spec.hedging else "netting"
    if spec.risk is not None:
        out["risk"] = dict(spec.risk)
    return out


async def _origin(exchange: Any, market: Market, tf: int, clock: Clock, warmup: int) -> int:
    """Open time of the first bar a new deployment trades: `warmup` bars before the exchange's last closed bar."""
    if warmup < 1:
        raise ConfigError(f"warmup must be at least 1 bar, got {warmup}")
    rows = await exchange.fetch_ohlcv(market.symbol, market.timeframe, None, 3)
    now = clock.now()
    closed = [int(r[0]) * 1_000_000 for r in rows if int(r[0]) * 1_000_000 + tf <= now]
    if not closed:
        raise ConfigError(f"{exchange.id} has no closed {market.timeframe} candle of {market.symbol} yet")
    return max(closed) - (warmup - 1) * tf


def _stored_config(uows: SqlUnitOfWorkFactory, dep: DeploymentRecord) -> PaperConfig | None:
    with uows.reader() as uow:
        runs = uow.runs.list(deployment_id=dep.id, mode=RunMode.PAPER)
    return PaperConfig.from_info(runs[0].info[INFO_KEY]) if runs else None


# ------------------------------------------------------------------------------------------------------ status
@dataclass(frozen=True)
class PositionRow:
    strategy: str
    symbol: str
    qty: float
    avg_price: float | None
    mark_price: float | None
    unrealized_pnl: float | None


@dataclass(frozen=True)
class DeploymentStatus:
    name: str
    strategy: str
    parameters: dict[str, Any]
    symbols: tuple[str, ...]
    timeframe: str
    enabled: bool
    run_key: str | None
    run_status: str | None
    started: str | None
    heartbeat: str | None
    stop_reason: str
    runs: int
    equity: float | None
    cash: float | None
    realized_pnl: float | None
    as_of: str | None  # the bar of the latest equity snapshot
    positions: list[PositionRow]
    open_orders: int
    trades: int


def status(db_url: str | None = None, name: str | None = None) -> list[DeploymentStatus]:
    """Every deployment (or one): its latest run, equity, open positions and counts."""
    uows = _uows(db_url)
    out = []
    with uows.reader() as uow:
        deployments = uow.deployments.list()
        if name is not None:
            deployments = [d for d in deployments if d.name == name]
            if not deployments:
                raise ConfigError(f"there is no deployment {name!r}; `tradeforge status` lists them")
        for dep in deployments:
            runs = uow.runs.list(deployment_id=dep.id)
            last: RunRecord | None = runs[-1] if runs else None
            equity = cash = realized = None
            as_of = None
            positions: list[PositionRow] = []
            for run in reversed(runs):
                assert run.id is not None
                curve = uow.snapshots.equity(run.id)
                if curve:
                    snap = curve[-1]
                    equity, cash, realized, as_of = snap.equity, snap.cash, snap.realized_pnl, iso(snap.ts)
                    positions = [
                        PositionRow(p.strategy, p.symbol, p.qty, p.avg_price, p.mark_price, p.unrealized_pnl)
                        for p in uow.snapshots.positions(run.id)
                        if p.qty != 0.0
                    ]
                    break
            out.append(
                DeploymentStatus(
                    dep.name,
                    dep.strategy,
                    dict(dep.parameters),
                    dep.symbols,
                    dep.timeframes[0] if dep.timeframes else "",
                    dep.enabled,
                    last.key if last else None,
                    last.status.value if last else None,
                    iso(last.started_ts) if last else None,
                    iso(last.heartbeat_ts) if last and last.heartbeat_ts is not None else None,
                    last.stop_reason if last else "",
                    len(runs),
                    equity,
                    cash,
                    realized,
                    as_of,
                    positions,
                    len(uow.orders.open_orders(deployment_id=dep.id)),
                    len(uow.trades.list(deployment_id=dep.id)),
                )
            )
    return out


@dataclass(frozen=True)
class OrderRow:
    client_order_id: str
    created: str
    strategy: str
    symbol: str
    side: str
    type: str
    qty: float | None
    price: float | None  # limit or stop
    status: str
    filled_qty: float
    avg_fill_price: float | None
    fees: float
    role: str
    reason: str


def orders(
    db_url: str | None = None, name: str | None = None, limit: int = 50, open_only: bool = False
) -> list[OrderRow]:
    """The latest orders (of one deployment, or all), oldest first."""
    uows = _uows(db_url)
    with uows.reader() as uow:
        dep_id = _deployment_id(uow, name)
        records = (
            uow.orders.open_orders(deployment_id=dep_id)[-limit:]
            if open_only
            else uow.orders.list(deployment_id=dep_id, limit=limit)
        )
    return [
        OrderRow(
            r.client_order_id,
            iso(r.created_ts),
            r.strategy,
            r.symbol,
            r.side.name.lower(),
            r.type.value,
            r.qty,
            r.limit if r.limit is not None else r.stop,
            r.status.value,
            r.filled_qty,
            r.avg_fill_price,
            r.fees,
            r.role,
            r.reject_reason,
        )
        for r in records
    ]


@dataclass(frozen=True)
class TradeRow:
    id: int
    strategy: str
    symbol: str
    direction: str
    size: float
    entry: str
    entry_price: float
    exit: str | None
    exit_price: float | None
    exit_reason: str
    fees: float
    pnl: float | None  # realized, after fees (None while open)
    signal: str  # the signal that led to it: "#id side status (reason)", or ""
    prediction: str  # the model's prediction: "model value (accepted/rejected)", or ""


def trades(db_url: str | None = None, name: str | None = None, limit: int = 50) -> list[TradeRow]:
    """The latest trades (of one deployment, or all) with their strategy, signal, prediction and P&L."""
    uows = _uows(db_url)
    rows = []
    with uows.reader() as uow:
        dep_id = _deployment_id(uow, name)
        for t in uow.trades.list(deployment_id=dep_id)[-limit:]:
            signal = prediction = ""
            if t.signal_id is not None:
                s = uow.signals.get(t.signal_id)
                signal = f"#{s.id} {s.side.name.lower()} {s.status.value}" + (f" ({s.reason})" if s.reason else "")
            if t.prediction_id is not None:
                p = uow.predictions.get(t.prediction_id)
                verdict = "" if p.accepted is None else (" accepted" if p.accepted else " rejected")
                prediction = f"{p.model} {p.value:.3g}{verdict}"
            assert t.id is not None
            rows.append(
                TradeRow(
                    t.id,
                    t.strategy,
                    t.symbol,
                    "long" if t.size > 0 else "short",
                    abs(t.size),
                    iso(t.entry_ts),
                    t.entry_price,
                    iso(t.exit_ts) if t.exit_ts is not None else None,
                    t.exit_price,
                    t.exit_reason,
                    t.fees,
                    t.realized_pnl,
                    signal,
                    prediction,
                )
            )
    return rows


def _deployment_id(uow: Any, name: str | None) -> int | None:
    if name is None:
        return None
    dep = uow.deployments.by_name(name)
    if dep is None:
        raise ConfigError(f"there is no deployment {name!r}; `tradeforge status` lists them")
    return int(dep.id)


# -------------------------------------------------------------------------------------------------------- kill
@dataclass(frozen=True)
class KillReport:
    deployment: str
    run_key: str
    kill_file: Path
    stopped: bool  # the run had ended when kill() returned (only when waiting)
    stop_reason: str


def kill(
    name: str, db_url: str | None = None, control: str | os.PathLike[str] | None = None, wait: float = 0.0
) -> KillReport:
    """Ask the running paper run of a deployment to cancel every order, flatten every position and stop (it watches
    its kill file). With wait > 0, wait up to that many seconds for it to stop."""
    uows = _uows(db_url)
    with uows.reader() as uow:
        dep = uow.deployments.by_name(name)
        if dep is None:
            raise ConfigError(f"there is no deployment {name!r}; `tradeforge status` lists them")
        running = uow.runs.list(deployment_id=dep.id, status=RunStatus.RUNNING)
    if not running:
        raise ConfigError(f"deployment {name!r} has no running run: there is nothing to kill")
    run = running[-1]
    path = Path(run.info.get("kill_file") or kill_file_for(name, control_dir(control)))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"kill requested at {iso(time.time_ns())}\n")
    stopped, reason = False, ""
    deadline = time.monotonic() + max(0.0, wait)
    while wait > 0 and time.monotonic() < deadline:
        with uows.reader() as uow:
            now = uow.runs.get(run.id or 0)
        if now.status is not RunStatus.RUNNING:
            stopped, reason = True, now.stop_reason
            break
        time.sleep(0.2)
    return KillReport(name, run.key, path, stopped, reason)


def describe_outcome(report: PaperReport) -> str:
    o = report.outcome
    resumed = f", resuming {report.resumed} earlier run(s)" if report.resumed else ""
    return (
        f"{report.mode} run {report.run_key} of {report.deployment} {o.status} ({o.reason}){resumed}: {o.warmup_bars} "
        f"warm-up and {o.live_bars} live bars, {report.orders} orders, {report.trades} trades"
    )
