"""`tradeforge sweep` and `tradeforge walkforward`: parameter research on the fast path."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from tradeforge.cli.common import console, fail, progress_bar
from tradeforge.core.errors import TradeforgeError
from tradeforge.service.sweep import SweepJob, WalkForwardJob, run_sweep_job, run_walkforward_job

SignalsOpt = Annotated[
    str,
    typer.Option(
        "--signals",
        "-s",
        help="built-in signal function (sma_cross, ema_cross_long, rsi_reversion, breakout) or file.py:function",
    ),
]
DataOpt = Annotated[
    str, typer.Option("--data", "-d", help="sample name, stored series SOURCE:SYMBOL@TF, or a bar file")
]
ParamOpt = Annotated[
    list[str], typer.Option("--param", "-p", help="NAME=START:STOP:STEP (stop included), NAME=A,B,C or NAME=VALUE")
]
ConstraintOpt = Annotated[str | None, typer.Option(help="keep combinations where this holds, e.g. 'fast < slow'")]
ObjectiveOpt = Annotated[
    str, typer.Option(help="sharpe, sortino, calmar, return, profit_factor, or another statistics column")
]
WorkersOpt = Annotated[int | None, typer.Option(help="local worker processes (default: one per core)")]
ClusterOpt = Annotated[str | None, typer.Option(help="run on a Dask cluster: its scheduler, tcp://HOST:PORT")]


def _settings(
    cash: float, fees: float, fixed_fees: float, slippage: float, size: float, size_type: str,
    fractional: bool, sl: float | None, tp: float | None, trail: float | None, fill: str,
) -> dict[str, Any]:  # fmt: skip
    return {
        "cash": cash, "fees": fees, "fixed_fees": fixed_fees, "slippage": slippage, "size": size,
        "size_type": size_type, "lot_size": 0.0 if fractional else 1.0, "sl_stop": sl, "tp_stop": tp,
        "tsl_stop": trail, "fill": fill,
    }  # fmt: skip


def register(app: typer.Typer) -> None:
    @app.command("sweep")
    def sweep_command(
        signals: SignalsOpt,
        data: DataOpt,
        param: ParamOpt,
        constraint: ConstraintOpt = None,
        objective: ObjectiveOpt = "sharpe",
        minimize: Annotated[bool, typer.Option(help="pick the lowest objective instead of the highest")] = False,
        split: Annotated[
            str | None, typer.Option(help="in-sample part: a fraction (0.7) or a time (2023-01-01); the rest is tested")
        ] = None,
        cash: Annotated[float, typer.Option(help="starting cash")] = 10_000.0,
        fees: Annotated[float, typer.Option(help="fee per fill, fraction of value (0.002 = 0.2%)")] = 0.0,
        fixed_fees: Annotated[float, typer.Option(help="fixed fee per fill")] = 0.0,
        slippage: Annotated[float, typer.Option(help="adverse slippage, fraction of price")] = 0.0,
        size: Annotated[float, typer.Option(help="position size (see --size-type)")] = 1.0,
        size_type: Annotated[str, typer.Option(help="percent (of cash, 1.0 = all), units or value")] = "percent",
        fractional: Annotated[bool, typer.Option(help="allow fractional units (default: whole units)")] = False,
        sl: Annotated[float | None, typer.Option(help="stop-loss, fraction of entry price")] = None,
        tp: Annotated[float | None, typer.Option(help="take-profit, fraction of entry price")] = None,
        trail: Annotated[float | None, typer.Option(help="trailing stop, fraction of price")] = None,
        fill: Annotated[str, typer.Option(help="market orders fill at next_open or close")] = "next_open",
        workers: WorkersOpt = None,
        cluster: ClusterOpt = None,
        out: Annotated[Path, typer.Option("--out", "-o", help="output folder")] = Path("tradeforge-output/sweep"),
        top: Annotated[int, typer.Option(help="show this many best combinations")] = 10,
        tz: Annotated[str | None, typer.Option(help="time zone of naive times in data files")] = None,
        store: Annotated[Path | None, typer.Option(envvar="TRADEFORGE_STORE", help="bar store folder")] = None,
        debug: Annotated[bool, typer.Option(help="show full tracebacks")] = False,
    ) -> None:
        """Sweep a signal function over a parameter grid on the fast path; rank by an objective, report the
        deflated Sharpe ratio and the probability of backtest overfitting, write CSV, JSON and a heatmap."""
        job = SweepJob(
            signals=signals, data=data, params=list(param), constraint=constraint, objective=objective,
            minimize=minimize, split=split,
            settings=_settings(cash, fees, fixed_fees, slippage, size, size_type, fractional, sl, tp, trail, fill),
            workers=workers, cluster=cluster, out_dir=out, tz=tz, store=store,
        )  # fmt: skip
        try:
            with progress_bar("sweep", unit="combinations") as update:
                result, files = run_sweep_job(job, update)
        except TradeforgeError as exc:
            fail(exc, debug)
            return
        best = result.top(top)
        shown = [*result.params, "objective", "total_return", "sharpe", "max_drawdown", "n_trades"]
        if result.test is not None:
            shown += ["test_total_return", "test_sharpe"]
        table = Table(title=f"Best {len(best)} of {len(result.stats):,} by {result.objective}", title_justify="left")
        for col in shown:
            table.add_column(col, justify="right")
        for _, row in best.iterrows():
            table.add_row(*(_fmt(col, row[col]) for col in shown))
        console.print(table)
        summary = Table(title="Best combination and how much to trust it", show_header=False, title_justify="left")
        summary.add_column("what", style="cyan")
        summary.add_column("value", justify="right")
        for key, text in result.summary():
            summary.add_row(key, text)
        console.print(summary)
        for kind, path in files.items():
            console.print(f"[green]{kind}[/]: {path}")

    @app.command("walkforward")
    def walkforward_command(
        signals: SignalsOpt,
        data: DataOpt,
        param: ParamOpt,
        train: Annotated[int, typer.Option(help="bars in each train (in-sample) window")],
        test: Annotated[int, typer.Option(help="bars in each test (out-of-sample) window; the roll step")],
        mode: Annotated[
            str, typer.Option(help="rolling (fixed train length) or expanding (from the first bar)")
        ] = "rolling",
        constraint: ConstraintOpt = None,
        objective: ObjectiveOpt = "sharpe",
        minimize: Annotated[bool, typer.Option(help="pick the lowest objective")] = False,
        cash: Annotated[float, typer.Option(help="starting cash")] = 10_000.0,
        fees: Annotated[float, typer.Option(help="fee per fill, fraction of value")] = 0.0,
        fixed_fees: Annotated[float, typer.Option(help="fixed fee per fill")] = 0.0,
        slippage: Annotated[float, typer.Option(help="adverse slippage, fraction of price")] = 0.0,
        size: Annotated[float, typer.Option(help="position size (see --size-type)")] = 1.0,
        size_type: Annotated[str, typer.Option(help="percent, units or value")] = "percent",
        fractional: Annotated[bool, typer.Option(help="allow fractional units")] = False,
        sl: Annotated[float | None, typer.Option(help="stop-loss, fraction of entry price")] = None,
        tp: Annotated[float | None, typer.Option(help="take-profit, fraction of entry price")] = None,
        trail: Annotated[float | None, typer.Option(help="trailing stop, fraction of price")] = None,
        fill: Annotated[str, typer.Option(help="next_open or close")] = "next_open",
        workers: WorkersOpt = None,
        cluster: ClusterOpt = None,
        out: Annotated[Path, typer.Option("--out", "-o", help="output folder")] = Path("tradeforge-output/walkforward"),
        tz: Annotated[str | None, typer.Option(help="time zone of naive times in data files")] = None,
        store: Annotated[Path | None, typer.Option(envvar="TRADEFORGE_STORE", help="bar store folder")] = None,
        debug: Annotated[bool, typer.Option(help="show full tracebacks")] = False,
    ) -> None:
        """Walk-forward optimization: sweep on each train window, trade the best on the next test window, and
        report the stitched out-of-sample results beside the in-sample ones."""
        job = WalkForwardJob(
            signals=signals, data=data, params=list(param), train=train, test=test, mode=mode, constraint=constraint,
            objective=objective, minimize=minimize,
            settings=_settings(cash, fees, fixed_fees, slippage, size, size_type, fractional, sl, tp, trail, fill),
            workers=workers, cluster=cluster, out_dir=out, tz=tz, store=store,
        )  # fmt: skip
        try:
            with progress_bar("walk-forward", unit="folds") as update:
                result, files = run_walkforward_job(job, update)
        except TradeforgeError as exc:
            fail(exc, debug)
            return
        table = Table(title=f"Walk-forward, {len(result.folds)} folds ({result.mode})", title_justify="left")
        frame = result.table()
        for col in frame.columns:
            table.add_column(str(col), justify="right")
        for _, row in frame.iterrows():
            table.add_row(*(_fmt(str(c), row[c]) for c in frame.columns))
        console.print(table)
        both = Table(title="In-sample (mean of folds) vs out-of-sample (stitched)", title_justify="left")
        for col in ("statistic", "in-sample", "out-of-sample"):
            both.add_column(col, justify="right")
        for key in ("total_return", "cagr", "sharpe", "sortino", "max_drawdown", "calmar"):
            both.add_row(key, _fmt(key, result.in_sample[key]), _fmt(key, result.out_of_sample[key]))
        console.print(both)
        for kind, path in files.items():
            console.print(f"[green]{kind}[/]: {path}")


def _fmt(col: str, value: Any) -> str:
    if isinstance(value, str):
        return value
    if value is None or (isinstance(value, float) and value != value):
        return "-"
    if col.endswith(("return", "drawdown", "cagr", "win_rate")):
        return f"{float(value):.2%}"
    if col.endswith("n_trades") or col == "fold":
        return f"{int(value):,}"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)
