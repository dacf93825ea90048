"""`tradeforge live`: real orders on an exchange, from a deployment file that says so.

Live trading is never a default and never a flag away from paper trading: the deployment file (TOML) must contain
``live = true``, and the exchange's API keys come from environment variables or the encrypted key file
(``tradeforge keys``), never from the command line. ``--simulator-port`` rehearses the same deployment against the
local exchange simulator (any keys).

    name = "btc-live"
    strategy = "sma_cross_long"
    data = ["binance:BTC/USDT@1m"]
    cash = 500                 # of the account's quote currency the bot may use
    live = true                # I know this sends real orders
    reconcile_every = 10       # live bars between reconciliations
    native_stops = true        # stop-losses rest on the exchange as its own stop orders (false: held by the bot)
    [params]
    fast = 10
    [risk]
    max_daily_loss = 50
    max_position_value = 600
    max_orders_per_minute = 6

A deployment of that name is resumed when it exists (replaying what earlier runs stored, see ``tradeforge.live``);
``tradeforge kill NAME`` cancels its orders, flattens and stops it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from tradeforge.core.clock import parse_timeframe
from tradeforge.core.errors import ConfigError
from tradeforge.core.ports import Clock
from tradeforge.core.risk import RiskLimits
from tradeforge.data.store import BarStore
from tradeforge.live.bridge import ExchangeBridge
from tradeforge.live.clock import WallClock
from tradeforge.live.feed import CcxtFeed
from tradeforge.live.live_run import INFO_KEY, LiveConfig, measure_baseline, open_live_run
from tradeforge.live.paper import PaperConfig
from tradeforge.persistence import DeploymentRecord, RunMode
from tradeforge.service.data import store_root
from tradeforge.service.keys import load_api_keys
from tradeforge.service.strategy_loader import load_strategy_class
from tradeforge.service.trading import (
    SIMULATOR_SOURCE,
    PaperReport,
    _origin,
    _uows,
    control_dir,
    instrument_of,
    kill_file_for,
    parse_markets,
)

log = logging.getLogger("tradeforge.service.live")


@dataclass(frozen=True)
class LiveSpec:
    """A live deployment file. ``live`` must be true."""

    name: str
    strategy: str
    data: tuple[str, ...]
    cash: float
    live: bool = False
    params: dict[str, Any] = field(default_factory=dict)
    risk: dict[str, Any] = field(default_factory=dict)
    warmup: int = 300
    reconcile_every: int = 10
    native_stops: bool = True

    def __post_init__(self) -> None:
        if not self.live:
            raise ConfigError(
                "live trading sends real orders with real money: the deployment file must say `live = true` "
                "(rehearse first with `tradeforge paper`, or on the local simulator with --simulator-port)"
            )
        if not isinstance(self.native_stops, bool):
            raise ConfigError(f"native_stops must be true or false, got {self.native_stops!r}")
        if not (isinstance(self.cash, (int, float)) and self.cash > 0):
            raise ConfigError(f"cash (how much of the account's quote currency the bot may use) must be > 0, got "
                              f"{self.cash!r}")  # fmt: skip
        try:
            RiskLimits(**self.risk)
        except TypeError as exc:
            known = ", ".join(f.name for f in dataclasses.fields(RiskLimits))
            raise ConfigError(f"[risk]: {exc}; known limits: {known}") from exc


def live_spec_from_toml(path: Path) -> LiveSpec:
    try:
        raw = tomllib.loads(Path(path).read_text())
    except FileNotFoundError as exc:
        raise ConfigError(f"deployment file {path} does not exist") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"deployment file {path} is not valid TOML: {exc}") from exc
    known = {f.name for f in dataclasses.fields(LiveSpec)}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise ConfigError(f"{path}: unknown setting(s) {unknown}; known: {', '.join(sorted(known))}")
    missing = sorted({"name", "strategy", "data", "cash"} - set(raw))
    if missing:
        raise ConfigError(f"{path}: missing setting(s) {missing} (see `tradeforge live --help`)")
    if isinstance(raw.get("data"), str):
        raw["data"] = [raw["data"]]
    raw["data"] = tuple(raw["data"])
    for table in ("params", "risk"):
        if not isinstance(raw.get(table, {}), dict):
            raise ConfigError(f"{path}: [{table}] must be a table")
    if "api_key" in raw or "secret" in raw:  # pragma: no cover - refused above as unknown settings
        raise ConfigError("API keys do not go in the deployment file")
    try:
        return LiveSpec(**raw)
    except TypeError as exc:
        raise ConfigError(f"{path}: {exc}") from exc


def make_live_exchange(exchange_id: str, *, simulator_port: int | None = None, key_file: Path | None = None) -> Any:
    """ccxt.pro's client for the exchange with the API keys (env or key file), or the simulator's."""
    import ccxt.pro as ccxt_pro

    if simulator_port is not None:
        from tradeforge.live.simulator import point_ccxt_at

        if exchange_id != "binance":
            raise ConfigError(f"the local simulator speaks binance's API: use binance:SYMBOL@TF, not {exchange_id}")
        exchange = ccxt_pro.binance({"apiKey": "simulator", "secret": "simulator", "timeout": 5000})
        point_ccxt_at(exchange, simulator_port)
        return exchange
    klass = getattr(ccxt_pro, exchange_id, None)
    if klass is None:
        raise ConfigError(f"ccxt.pro has no exchange {exchange_id!r} (live trading needs its websocket client)")
    keys = load_api_keys(exchange_id, key_file=key_file)
    log.info("API keys for %s: %s", exchange_id, keys.source)
    return klass({"enableRateLimit": True, **keys.ccxt_config()})


def start_live(
    spec: LiveSpec,
    *,
    db_url: str | None = None,
    store: str | os.PathLike[str] | None = None,
    simulator_port: int | None = None,
    key_file: Path | None = None,
    control: str | os.PathLike[str] | None = None,
    takeover: bool = False,
    until: int | None = None,
    stream: bool = True,
    poll_interval: float = 1.0,
    clock: Clock | None = None,
    handle_signals: bool = True,
) -> PaperReport:
    """Run (or resume) a live deployment until it is stopped. Blocks; returns how the run ended."""
    uows = _uows(db_url)
    klass = load_strategy_class(spec.strategy)
    klass(**spec.params)  # unknown parameters are refused here
    markets = parse_markets(spec.data)
    account = f"live:{markets[0].exchange}" + (":simulator" if simulator_port is not None else "")
    with uows.reader() as uow:
        existing = uow.deployments.by_name(spec.name)
    if existing is not None and (
        existing.account != account or existing.strategy != spec.strategy or dict(existing.parameters) != spec.params
    ):
        raise ConfigError(
            f"deployment {spec.name!r} exists as {existing.strategy}({existing.parameters}) on {existing.account}: "
            "a live deployment is resumed only with the file it started with; name a new one otherwise"
        )
    folder = control_dir(control)
    folder.mkdir(parents=True, exist_ok=True)
    kill_file = kill_file_for(spec.name, folder)
    if kill_file.exists():
        log.warning("removing the stale kill file %s", kill_file)
        kill_file.unlink()
    source = SIMULATOR_SOURCE if simulator_port is not None else markets[0].exchange
    bars = BarStore(store_root(store))

    async def main() -> PaperReport:
        exchange = make_live_exchange(markets[0].exchange, simulator_port=simulator_port, key_file=key_file)
        wall = clock or WallClock()
        try:
            await exchange.load_markets()
            for m in markets:
                if m.symbol not in exchange.markets:
                    raise ConfigError(f"{exchange.id} has no market {m.symbol!r}")
            tf = parse_timeframe(markets[0].timeframe)
            first = exchange.market(markets[0].symbol)
            deployment = existing
            baseline = None
            if deployment is None:
                origin = await _origin(exchange, markets[0], tf, wall, spec.warmup)
                fees = (float(first.get("maker") or 0.0), float(first.get("taker") or 0.0))
                instruments = tuple(instrument_of(exchange, m.symbol) for m in markets)
                acct = PaperConfig(tuple(m.symbol for m in markets), tf, origin, float(spec.cash), *fees,
                                   instruments=instruments)  # fmt: skip
                cfg = LiveConfig(acct, RiskLimits(**spec.risk), spec.reconcile_every, spec.native_stops)
                baseline = await measure_baseline(exchange, acct.symbols, acct.cash)
                with uows() as uow:
                    deployment = uow.deployments.add(DeploymentRecord(
                        spec.name, spec.strategy, dict(spec.params), acct.symbols, (markets[0].timeframe,), account,
                        created_ts=wall.now(), updated_ts=wall.now(),
                    ))  # fmt: skip
                    uow.commit()
            else:
                with uows.reader() as uow:
                    runs = uow.runs.list(deployment_id=deployment.id, mode=RunMode.LIVE)
                if not runs:
                    raise ConfigError(f"deployment {spec.name!r} has no live run to resume (is it a paper one?)")
                cfg = LiveConfig.from_info(runs[0].info[INFO_KEY])
                asked = replace(
                    cfg,
                    risk=RiskLimits(**spec.risk),
                    reconcile_every=spec.reconcile_every,
                    native_stops=spec.native_stops,
                )
                asked = replace(asked, account=replace(cfg.account, cash=float(spec.cash)))
                if asked != cfg:
                    raise ConfigError(
                        f"deployment {spec.name!r} trades with cash {cfg.account.cash:g}, risk {cfg.risk} and "
                        f"reconcile_every {cfg.reconcile_every}, native_stops {cfg.native_stops}: the file now says "
                        "otherwise; resume it as it was, or "
                        "start a new deployment under another name"
                    )
            streaming = stream and bool(exchange.has.get("watchOHLCV"))
            feeds = [
                CcxtFeed(exchange, m.symbol, m.timeframe, clock=wall, stream=streaming, poll_interval=poll_interval)
                for m in markets
            ]
            bridge = ExchangeBridge(exchange)
            live = open_live_run(
                uows, deployment, cfg, [klass(**deployment.parameters)], feeds, bridge, clock=wall, baseline=baseline,
                store=bars, source=source, kill_file=kill_file, until_ts=until, handle_signals=handle_signals,
                takeover=takeover, info={"exchange": exchange.id, "strategy": deployment.strategy},
            )  # fmt: skip
            outcome = await live.run()
            engine = live.engine
            return PaperReport(deployment.name, live.record.key, len(live.resumed), outcome, len(engine.orders),
                               len(engine.portfolio.all_trades()), "live")  # fmt: skip
        finally:
            await exchange.close()

    return asyncio.run(main())
