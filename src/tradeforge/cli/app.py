"""The `tradeforge` command. Errors print as one readable line unless --debug is given."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from tradeforge.cli.common import console, fail, progress_bar
from tradeforge.cli.data import data_app
from tradeforge.cli.db import db_app
from tradeforge.cli.keys import keys_app
from tradeforge.cli.ml import ml_app
from tradeforge.cli.research import register as register_research
from tradeforge.cli.trading import register as register_trading
from tradeforge.core.errors import TradeforgeError
from tradeforge.metrics import format_stats
from tradeforge.service.backtest import BacktestJob, demo_cases, run_demo_case, run_job
from tradeforge.sim.result import Result

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="tradeforge: backtest, research and trade strategies with one deterministic engine.",
)
app.add_typer(data_app, name="data")
app.add_typer(db_app, name="db")
app.add_typer(keys_app, name="keys")
app.add_typer(ml_app, name="ml")
register_research(app)
register_trading(app)
SUMMARY_KEYS = (
    "Start",
    "End",
    "Return [%]",
    "Buy & Hold Return [%]",
    "Return (Ann.) [%]",
    "Sharpe Ratio",
    "Sortino Ratio",
    "Calmar Ratio",
    "Max. Drawdown [%]",
    "# Trades",
    "Win Rate [%]",
    "Profit Factor",
    "Expectancy [%]",
    "Equity Final [$]",
    "Fees Paid [$]",
    "Turnover [$]",
    "Months Profitable [%]",
)


def stats_table(title: str, stats: dict[str, Any], keys: tuple[str, ...] | None = None) -> Table:
    table = Table(title=title, show_header=False, title_justify="left")
    table.add_column("statistic", style="cyan")
    table.add_column("value", justify="right")
    for key, text in format_stats(stats):
        if keys is None or key in keys:
            table.add_row(key, text)
    return table


def sharpe_note(named_stats: list[tuple[str, dict[str, Any]]]) -> str | None:
    """A sentence explaining a Sharpe Ratio below -10 (far outside what any strategy earns), or None.

    The Sharpe Ratio is Backtesting.py's: annualized return / annualized volatility, both compounded from the
    daily returns. A run that loses steadily over a few weeks compounds to an annualized return near -100%, and the
    same compounding shrinks the annualized volatility toward 0, so the ratio runs into the thousands."""
    odd = []
    for name, stats in named_stats:
        sharpe = stats.get("Sharpe Ratio")
        if isinstance(sharpe, int | float) and sharpe < -10:
            odd.append(name)
    if not odd:
        return None
    return (
        f"{', '.join(odd)}: the Sharpe Ratio is Backtesting.py's (annualized return / annualized volatility, both "
        "compounded from daily returns); a short run that compounds to an annualized return near -100% shrinks "
        "that volatility toward 0, so the ratio explodes. Read Return, Sortino Ratio and Max. Drawdown instead."
    )


def comparison_table(rows: list[tuple[str, Result]]) -> Table:
    table = Table(title="Demo summary", title_justify="left")
    table.add_column("statistic", style="cyan")
    for name, _ in rows:
        table.add_column(name, justify="right")
    formatted = [dict(format_stats(r.stats)) for _, r in rows]
    for key in SUMMARY_KEYS:
        table.add_row(key, *(f.get(key, "") for f in formatted))
    return table


@app.command()
def backtest(
    strategy: Annotated[
        str, typer.Option("--strategy", "-s", help="built-in name (sma_cross, breakout) or file.py[:Class]")
    ],
    data: Annotated[
        list[str],
        typer.Option(
            "--data",
            "-d",
            help="sample name (see `tradeforge samples`), stored series SOURCE:SYMBOL@TF (see `tradeforge data "
            "list`) or a CSV/Parquet/Feather file; repeat for several symbols",
        ),
    ],
    param: Annotated[list[str] | None, typer.Option("--param", "-p", help="strategy parameter name=value")] = None,
    cash: Annotated[float, typer.Option(help="starting cash")] = 10_000.0,
    commission: Annotated[float, typer.Option(help="fee as a fraction of traded value per fill, 0.002 = 0.2%")] = 0.0,
    slippage: Annotated[float, typer.Option(help="adverse slippage of taker fills, fraction of price")] = 0.0,
    spread: Annotated[float, typer.Option(help="bid-ask spread as a fraction of price")] = 0.0,
    fill: Annotated[str, typer.Option(help="market orders fill at next_open or close")] = "next_open",
    hedging: Annotated[bool, typer.Option(help="per-trade positions instead of netting")] = False,
    leverage: Annotated[float, typer.Option(help="account leverage (1 = none)")] = 1.0,
    replay: Annotated[bool, typer.Option(help="push bars one at a time (the live path); same results")] = False,
    together: Annotated[
        bool, typer.Option(help="with several --data: one strategy instance trades them all (else one per symbol)")
    ] = False,
    out: Annotated[Path, typer.Option("--out", "-o", help="output folder")] = Path("tradeforge-output/backtest"),
    report: Annotated[bool, typer.Option(help="write the HTML report")] = True,
    tz: Annotated[
        str | None, typer.Option(help="time zone of data files whose times have none (e.g. UTC, America/New_York)")
    ] = None,
    store: Annotated[
        Path | None, typer.Option(envvar="TRADEFORGE_STORE", help="bar store folder for SOURCE:SYMBOL@TF data")
    ] = None,
    debug: Annotated[bool, typer.Option(help="show full tracebacks")] = False,
) -> None:
    """Backtest a strategy on bundled or your own bars; print statistics and write exports and a report."""
    job = BacktestJob(
        strategy=strategy,
        data=list(data),
        params=list(param or []),
        cash=cash,
        commission=commission,
        slippage=slippage,
        spread=spread,
        fill_timing=fill,
        position_mode="hedging" if hedging else "netting",
        leverage=leverage,
        replay=replay,
        out_dir=out,
        report=report,
        together=together,
        tz=tz,
        store=store,
    )
    try:
        with progress_bar("backtest") as update:
            outcome = run_job(job, update)
    except TradeforgeError as exc:
        fail(exc, debug)
        return
    console.print(stats_table(outcome.title, outcome.result.stats))
    note = sharpe_note([(outcome.title, outcome.result.stats)])
    if note:
        console.print(f"[yellow]note:[/] {note}", highlight=False)
    rejected = [o for o in outcome.result.orders if o.status.value == "rejected"]
    if rejected:
        reasons: dict[str, int] = {}
        for order in rejected:
            reason = (order.reject_reason or "no reason given").split(" at ")[0]
            reasons[reason] = reasons.get(reason, 0) + 1
        common = ", ".join(f"{n} x {reason}" for reason, n in sorted(reasons.items(), key=lambda kv: -kv[1])[:3])
        console.print(
            f"[yellow]note:[/] {len(rejected):,} of {len(outcome.result.orders):,} orders were rejected ({common}); "
            "see orders.csv. Too little cash for one lot? Raise --cash or trade an instrument with a smaller lot.",
            highlight=False,
        )
    for kind, path in outcome.files.items():
        console.print(f"[green]{kind}[/]: {path}")


@app.command()
def samples() -> None:
    """List the real market data bundled with tradeforge."""
    from tradeforge.data import list_samples

    table = Table(title="Bundled samples (use the name with --data)", title_justify="left")
    for col in ("name", "group", "timeframe", "bars", "first", "last", "description"):
        table.add_column(col, justify="right" if col == "bars" else "left")
    for s in list_samples():
        table.add_row(s.name, s.group, s.timeframe, f"{s.bars:,}", s.first, s.last, s.description)
    console.print(table)


@app.command()
def demo(
    out: Annotated[Path, typer.Option("--out", "-o", help="output folder")] = Path("tradeforge-output/demo"),
    debug: Annotated[bool, typer.Option(help="show full tracebacks")] = False,
) -> None:
    """Offline demo on bundled real data: runs strategies, prints statistics, writes HTML reports."""
    rows: list[tuple[str, Result]] = []
    try:
        for case in demo_cases():
            console.print(f"[bold]{case.slug}[/]: {case.what}")
            with progress_bar(case.slug) as update:
                outcome = run_demo_case(case, out, update)
            rows.append((case.slug, outcome.result))
            console.print(f"  report: [green]{outcome.files['report'].resolve()}[/]")
    except TradeforgeError as exc:
        fail(exc, debug)
        return
    console.print(comparison_table(rows))
    note = sharpe_note([(name, result.stats) for name, result in rows])
    if note:
        console.print(f"[yellow]note:[/] {note}", highlight=False)
    console.print(f"Open the HTML reports above in a browser; CSV and JSON exports sit next to them in {out}/.")


def main() -> None:
    app(prog_name="tradeforge")
