"""`tradeforge paper / live / status / orders / trades / kill`: paper and live trading and what they recorded.

Call ``register(app)`` to add the commands to the `tradeforge` Typer app.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from tradeforge.cli.common import console, fail
from tradeforge.core.errors import ConfigError, TradeforgeError
from tradeforge.service import trading as service
from tradeforge.service.strategy_loader import load_strategy_class, parse_params

DbOpt = Annotated[
    str | None,
    typer.Option("--db", envvar="TRADEFORGE_DB", help="database URL or SQLite file (default: the user's data folder)"),
]
NameOpt = Annotated[str | None, typer.Option("--name", "-n", help="only this deployment")]
DebugOpt = Annotated[bool, typer.Option(help="show full tracebacks")]
# options `paper` and `live` share
StoreOpt = Annotated[
    Path | None, typer.Option(envvar="TRADEFORGE_STORE", help="bar store folder (live bars are appended)")
]
ControlOpt = Annotated[
    Path | None, typer.Option(envvar="TRADEFORGE_CONTROL_DIR", help="folder of kill files (`tradeforge kill`)")
]
PollOpt = Annotated[float, typer.Option(help="seconds between looks at the clock and REST polls")]
StreamOpt = Annotated[bool, typer.Option(help="websocket candles (watch_ohlcv); --no-stream polls REST")]
UntilOpt = Annotated[str | None, typer.Option(help="stop after the bar at this time (ISO 8601, UTC)")]
TakeoverOpt = Annotated[bool, typer.Option(help="end a run still marked running (its process gone) and take over")]


def _num(x: float | None, digits: int = 2) -> str:
    return "" if x is None else f"{x:,.{digits}f}"


def paper(
    strategy: Annotated[str | None, typer.Option("--strategy", "-s", help="built-in name or file.py[:Class]")] = None,
    data: Annotated[
        list[str] | None, typer.Option("--data", "-d", help="exchange:SYMBOL@TF, e.g. binance:BTC/USDT@1m; repeatable")
    ] = None,
    param: Annotated[list[str] | None, typer.Option("--param", "-p", help="strategy parameter name=value")] = None,
    name: Annotated[
        str | None, typer.Option("--name", "-n", help="deployment name; an existing one is resumed")
    ] = None,
    config: Annotated[
        Path | None, typer.Option("--config", "-c", help="deployment spec (TOML); options override it")
    ] = None,
    cash: Annotated[float | None, typer.Option(help="starting cash (default 10,000)")] = None,
    commission: Annotated[
        float | None, typer.Option(help="fee as a fraction of value per fill (default: the market's maker/taker)")
    ] = None,
    slippage: Annotated[float | None, typer.Option(help="adverse slippage of taker fills, fraction of price")] = None,
    spread: Annotated[float | None, typer.Option(help="bid-ask spread as a fraction of price")] = None,
    fill: Annotated[str | None, typer.Option(help="market orders fill at next_open (default) or close")] = None,
    hedging: Annotated[bool | None, typer.Option("--hedging/--netting", help="per-trade positions")] = None,
    leverage: Annotated[float | None, typer.Option(help="account leverage (1 = none)")] = None,
    warmup: Annotated[
        int | None,
        typer.Option(help="bars of history a new deployment starts with; they are traded as a backtest would (300)"),
    ] = None,
    max_daily_loss: Annotated[
        float | None, typer.Option(help="no new entries once equity is this far below the UTC day's start")
    ] = None,
    max_position_value: Annotated[float | None, typer.Option(help="largest position value per symbol")] = None,
    max_orders_per_minute: Annotated[int | None, typer.Option(help="most orders sent in any 60 s")] = None,
    db: DbOpt = None,
    store: StoreOpt = None,
    control_dir: ControlOpt = None,
    simulator_port: Annotated[
        int | None, typer.Option(help="trade on the local exchange simulator listening on this port")
    ] = None,
    poll: PollOpt = 1.0,
    stream: StreamOpt = True,
    until: UntilOpt = None,
    takeover: TakeoverOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Paper trade a strategy on live bars: warm up from history, then trade each closed bar with simulated fills
    (the backtest's fill model), every order and trade stored. Stops on Ctrl-C / SIGTERM or `tradeforge kill`;
    run it again with the same --name to resume where it was."""
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(message)s", stream=sys.stderr)
    logging.getLogger("tradeforge").setLevel(logging.INFO)
    try:
        base = service.spec_from_toml(config) if config is not None else service.PaperSpec()
        values: dict[str, Any] = {
            "name": name,
            "strategy": strategy,
            "data": tuple(data) if data else None,
            "cash": cash,
            "commission": commission,
            "slippage": slippage,
            "spread": spread,
            "fill": fill,
            "hedging": hedging,
            "leverage": leverage,
            "warmup": warmup,
        }
        limits = {"max_daily_loss": max_daily_loss, "max_position_value": max_position_value,
                  "max_orders_per_minute": max_orders_per_minute}  # fmt: skip
        risk = {k: v for k, v in limits.items() if v is not None}
        if risk:
            values["risk"] = {**(base.risk or {}), **risk}
        spec = service.replace_spec(base, {k: v for k, v in values.items() if v is not None})
        if param:
            if not spec.strategy:
                raise ConfigError("--param needs --strategy (or a strategy in --config)")
            klass = load_strategy_class(spec.strategy)
            spec = service.replace_spec(spec, {"params": {**spec.params, **parse_params(list(param), klass)}})
        report = service.start_paper(
            spec,
            db_url=db,
            store=store,
            simulator_port=simulator_port,
            control=control_dir,
            takeover=takeover,
            until=service.parse_time(until) if until else None,
            stream=stream,
            poll_interval=poll,
        )
    except TradeforgeError as exc:
        fail(exc, debug)
        return
    console.print(service.describe_outcome(report), highlight=False)
    if report.outcome.status == "failed":
        raise typer.Exit(code=1)


def live(
    config: Annotated[Path, typer.Option("--config", "-c", help="the deployment file (TOML) with `live = true`")],
    db: DbOpt = None,
    store: StoreOpt = None,
    key_file: Annotated[
        Path | None,
        typer.Option(envvar="TRADEFORGE_KEY_FILE", help="encrypted key file (default: the user's data folder)"),
    ] = None,
    control_dir: ControlOpt = None,
    simulator_port: Annotated[
        int | None, typer.Option(help="rehearse on the local exchange simulator listening on this port")
    ] = None,
    poll: PollOpt = 1.0,
    stream: StreamOpt = True,
    until: UntilOpt = None,
    takeover: TakeoverOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Trade with REAL ORDERS on an exchange: the deployment file must say `live = true`; API keys come from
    TRADEFORGE_<EXCHANGE>_API_KEY / _SECRET or the encrypted key file (`tradeforge keys set`), never from the command
    line. Warms up from history (no orders), reconciles with the exchange, then trades each closed bar. Stops on
    Ctrl-C / SIGTERM; `tradeforge kill NAME` cancels, flattens and stops; run it again to resume."""
    from tradeforge.service import live as live_service

    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(message)s", stream=sys.stderr)
    logging.getLogger("tradeforge").setLevel(logging.INFO)
    try:
        spec = live_service.live_spec_from_toml(config)
        report = live_service.start_live(
            spec,
            db_url=db,
            store=store,
            simulator_port=simulator_port,
            key_file=key_file,
            control=control_dir,
            takeover=takeover,
            until=service.parse_time(until) if until else None,
            stream=stream,
            poll_interval=poll,
        )
    except TradeforgeError as exc:
        fail(exc, debug)
        return
    console.print(service.describe_outcome(report), highlight=False)
    if report.outcome.status == "failed":
        raise typer.Exit(code=1)


def status(db: DbOpt = None, name: NameOpt = None, debug: DebugOpt = False) -> None:
    """Deployments and their runs: status, heartbeat, equity, positions."""
    try:
        rows = service.status(db, name)
    except TradeforgeError as exc:
        fail(exc, debug)
        return
    if not rows:
        console.print("no deployments yet: start one with `tradeforge paper`")
        return
    table = Table(title="Deployments", title_justify="left")
    for col in ("name", "status", "equity", "cash", "realized P&L", "as of"):
        table.add_column(col, justify="right" if col in ("equity", "cash", "realized P&L") else "left")
    for r in rows:
        state = (r.run_status or "-") + ("" if r.enabled else " (killed)")
        table.add_row(r.name, state, _num(r.equity), _num(r.cash), _num(r.realized_pnl), r.as_of or "-")
    console.print(table)
    for r in rows:
        params = ", ".join(f"{k}={v}" for k, v in r.parameters.items())
        console.print(
            f"{r.name}: {r.strategy}({params}) on {', '.join(r.symbols)} {r.timeframe}; {r.runs} run(s), the last "
            f"{r.run_key or '-'} started {r.started or '-'}, heartbeat {r.heartbeat or '-'}; {r.trades} trades, "
            f"{r.open_orders} open orders",
            highlight=False,
        )
    held = [(r.name, p) for r in rows for p in r.positions]
    if held:
        positions = Table(title="Open positions", title_justify="left")
        for col in ("deployment", "strategy", "symbol", "qty", "avg price", "mark", "unrealized"):
            positions.add_column(col, justify="left" if col in ("deployment", "strategy", "symbol") else "right")
        for dep, p in held:
            positions.add_row(
                dep, p.strategy, p.symbol, f"{p.qty:g}", _num(p.avg_price), _num(p.mark_price), _num(p.unrealized_pnl)
            )
        console.print(positions)
    for r in rows:
        if r.stop_reason and r.run_status != "running":
            console.print(f"{r.name}: last run {r.run_status}: {r.stop_reason}", highlight=False)


def orders(
    db: DbOpt = None,
    name: NameOpt = None,
    limit: Annotated[int, typer.Option(help="the latest N orders")] = 50,
    open_only: Annotated[bool, typer.Option("--open", help="only orders still working")] = False,
    debug: DebugOpt = False,
) -> None:
    """Orders as stored: client order id, status, fills, fees."""
    try:
        rows = service.orders(db, name, limit, open_only)
    except TradeforgeError as exc:
        fail(exc, debug)
        return
    table = Table(title="Orders", title_justify="left")
    for col in ("client id", "created", "strategy", "symbol", "side", "type", "qty", "price", "status", "filled",
                "avg price", "fees", "role", "reason"):  # fmt: skip
        table.add_column(col)
    for r in rows:
        table.add_row(
            r.client_order_id, r.created, r.strategy, r.symbol, r.side, r.type, "" if r.qty is None else f"{r.qty:g}",
            _num(r.price), r.status, f"{r.filled_qty:g}", _num(r.avg_fill_price), _num(r.fees, 4), r.role, r.reason,
        )  # fmt: skip
    console.print(table)


def trades(db: DbOpt = None, name: NameOpt = None, limit: Annotated[int, typer.Option(help="the latest N")] = 50,
           debug: DebugOpt = False) -> None:  # fmt: skip
    """Trades with their strategy, signal, model prediction and realized P&L after fees."""
    try:
        rows = service.trades(db, name, limit)
    except TradeforgeError as exc:
        fail(exc, debug)
        return
    table = Table(title="Trades", title_justify="left")
    for col in ("id", "strategy", "symbol", "dir", "size", "entry", "entry price", "exit", "exit price", "reason",
                "fees", "P&L", "signal", "prediction"):  # fmt: skip
        table.add_column(col)
    total = 0.0
    for r in rows:
        total += r.pnl or 0.0
        table.add_row(
            str(r.id), r.strategy, r.symbol, r.direction, f"{r.size:g}", r.entry, _num(r.entry_price), r.exit or "open",
            _num(r.exit_price), r.exit_reason, _num(r.fees), _num(r.pnl), r.signal or "-", r.prediction or "-",
        )  # fmt: skip
    console.print(table)
    console.print(f"{len(rows)} trades, realized P&L after fees {total:,.2f}", highlight=False)


def kill(
    name: Annotated[str, typer.Argument(help="the deployment to kill")],
    db: DbOpt = None,
    control_dir: Annotated[
        Path | None, typer.Option(envvar="TRADEFORGE_CONTROL_DIR", help="folder of kill files")
    ] = None,
    wait: Annotated[float, typer.Option(help="seconds to wait for the run to stop (0: do not wait)")] = 30.0,
    debug: DebugOpt = False,
) -> None:
    """Kill switch: the running paper or live run cancels every order, flattens every position and stops; the deployment
    does not trade again."""
    try:
        report = service.kill(name, db, control_dir, wait)
    except TradeforgeError as exc:
        fail(exc, debug)
        return
    if report.stopped:
        console.print(f"{name}: run {report.run_key} stopped ({report.stop_reason})", highlight=False)
    else:
        console.print(f"{name}: kill requested ({report.kill_file}); run {report.run_key} stops once flat",
                      highlight=False)  # fmt: skip


def register(app: typer.Typer) -> None:
    """Add paper, live, status, orders, trades and kill to the `tradeforge` app."""
    app.command()(paper)
    app.command()(live)
    app.command()(status)
    app.command()(orders)
    app.command()(trades)
    app.command()(kill)
