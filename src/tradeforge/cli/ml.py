"""`tradeforge ml ...`: experiment grids, AutoML, the look-ahead check, the model registry and the inference API."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType
from typing import Annotated, Any, cast

import pandas as pd
import typer
from rich.table import Table

from tradeforge.cli.common import console, fail, progress_bar
from tradeforge.core.errors import TradeforgeError


def _svc() -> ModuleType:
    """The ML use cases, imported on first use: they bring scikit-learn and Optuna, which other commands need not
    load (every `tradeforge` command starts faster)."""
    import tradeforge.service.ml as service_ml

    return service_ml


ml_app = typer.Typer(
    no_args_is_help=True,
    help="Machine learning: experiment grids, AutoML, the look-ahead check, the model registry and its API.",
)

StoreOpt = Annotated[Path | None, typer.Option(envvar="TRADEFORGE_STORE", help="bar store folder")]
TzOpt = Annotated[str | None, typer.Option(help="time zone of naive times in data files")]
DebugOpt = Annotated[bool, typer.Option(help="show full tracebacks")]
RegistryOpt = Annotated[
    Path | None,
    typer.Option(
        "--registry",
        envvar="TRADEFORGE_MODELS",
        help="model registry folder (default: $TRADEFORGE_MODELS or your data folder/tradeforge/models)",
    ),
]
FeesOpt = Annotated[
    float, typer.Option(help="fee per fill, fraction of value (0.001 = 0.1%); labels need a move of 2x fees")
]
SellOpt = Annotated[str, typer.Option(help="what a sell prediction does: short, or flat (long only)")]
HoldOpt = Annotated[str, typer.Option(help="what a hold prediction does: keep the position, or flat")]
FeaturesHelp = "returns (pytrader's last N moves), default (moves, factors, TA, volume) or file.py:function"


@ml_app.command("grid")
def grid_command(
    data: Annotated[
        list[str], typer.Option("--data", "-d", help="sample, stored series SOURCE:SYMBOL@TF or bar file; repeat")
    ],
    granularity: Annotated[
        list[int] | None, typer.Option("--granularity", "-g", help="label horizon in bars; repeat (default 5 15 60)")
    ] = None,
    inputs: Annotated[
        list[int] | None, typer.Option("--inputs", "-i", help="datasetinputs, lagged moves; repeat (default 2 5 10)")
    ] = None,
    window: Annotated[
        list[int] | None, typer.Option("--window", "-w", help="training window in bars; repeat (default 5000)")
    ] = None,
    model: Annotated[
        list[str] | None,
        typer.Option("--model", "-m", help="zoo model name; repeat (default: the nine pytrader classifiers)"),
    ] = None,
    param: Annotated[
        list[str] | None, typer.Option("--param", "-p", help="MODEL.PARAM=A,B,C to cross, e.g. knn.n_neighbors=3,15")
    ] = None,
    features: Annotated[str, typer.Option(help=FeaturesHelp)] = "returns",
    fees: FeesOpt = 0.001,
    threshold: Annotated[float | None, typer.Option(help="label threshold instead of 2x fees")] = None,
    step: Annotated[int | None, typer.Option(help="bars per walk-forward test block (default: window/2)")] = None,
    sell: SellOpt = "short",
    hold: HoldOpt = "keep",
    oos_start: Annotated[str | None, typer.Option(help="first out-of-sample bar: an index or a time")] = None,
    workers: Annotated[int | None, typer.Option(help="local worker processes (default: one per core)")] = None,
    cluster: Annotated[str | None, typer.Option(help="run on a Dask cluster: its scheduler, tcp://HOST:PORT")] = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="output folder (the leaderboard)")] = Path(
        "tradeforge-output/ml-grid"
    ),
    retry_errors: Annotated[bool, typer.Option(help="recompute cells that failed in an earlier run")] = False,
    sort: Annotated[str, typer.Option(help="leaderboard column to rank by")] = "sortino",
    top: Annotated[int, typer.Option(help="show this many best cells")] = 15,
    tz: TzOpt = None,
    store: StoreOpt = None,
    debug: DebugOpt = False,
) -> None:
    """pytrader's predict_many, honestly: symbols x granularity x inputs x window x model x parameters, each
    scored out of sample by walk-forward AND by a fee-aware backtest of its predictions, into a resumable
    leaderboard (rerun to continue after an interruption)."""
    job = _svc().GridJob(
        data=list(data), granularities=granularity, inputs=inputs, windows=window, models=model,
        params=list(param or []), features=features, fees=fees, threshold=threshold, step=step, sell=sell,
        hold=hold, oos_start=oos_start, workers=workers, cluster=cluster, out_dir=out, retry_errors=retry_errors,
        tz=tz, store=store,
    )  # fmt: skip
    try:
        with progress_bar("ml grid", unit="cells") as update:
            result, files = _svc().run_grid_job(job, update)
        best = result.top(top, by=sort)
    except TradeforgeError as exc:
        fail(exc, debug)
        return
    shown = ["symbol", "model", "granularity", "datasetinputs", "window", "params", "accuracy", "total_return",
             "buy_hold_return", "sortino", "max_drawdown", "n_trades", "fees_paid", "dsr"]  # fmt: skip
    table = Table(title=f"Best {len(best)} of {result.cells} cells by {sort} (out of sample)", title_justify="left")
    for col in shown:
        table.add_column(_short(col), justify="left" if col in ("symbol", "model", "params") else "right")
    for _, row in best.iterrows():
        table.add_row(*(_fmt(col, row[col]) for col in shown))
    console.print(table)
    console.print(
        f"{result.computed} cells computed, {result.skipped} already in the leaderboard, {result.failed} failed, "
        f"in {result.seconds:.1f} s on {result.executor}"
    )
    errors = result.frame[result.frame["status"] == "error"]
    for _, row in errors.head(5).iterrows():
        console.print(f"[yellow]failed[/] {row['model']} g={row['granularity']} i={row['datasetinputs']} "
                      f"w={row['window']}: {row['error']}", highlight=False, soft_wrap=True)  # fmt: skip
    if len(errors) > 5:
        console.print(f"... and {len(errors) - 5} more failed cells (see the error column of the CSV)")
    for kind, path in files.items():
        console.print(f"[green]{kind}[/]: {path}")


@ml_app.command("automl")
def automl_command(
    data: Annotated[str, typer.Option("--data", "-d", help="sample, stored series SOURCE:SYMBOL@TF or bar file")],
    trials: Annotated[int | None, typer.Option(help="number of trials")] = None,
    timeout: Annotated[float | None, typer.Option(help="time budget in seconds")] = None,
    fitness: Annotated[str, typer.Option(help="sortino, sharpe, accuracy, profit_factor or return")] = "sortino",
    registry: RegistryOpt = None,
    name: Annotated[str | None, typer.Option(help="registry name of the best model (default automl-SYMBOL)")] = None,
    model: Annotated[
        list[str] | None, typer.Option("--model", "-m", help="model families to search; repeat (default: all)")
    ] = None,
    granularity: Annotated[
        list[int] | None, typer.Option("--granularity", "-g", help="label horizons to search; repeat")
    ] = None,
    inputs: Annotated[list[int] | None, typer.Option("--inputs", "-i", help="datasetinputs to search; repeat")] = None,
    window: Annotated[list[int] | None, typer.Option("--window", "-w", help="training windows to try; repeat")] = None,
    features: Annotated[
        list[str] | None, typer.Option("--features", help="feature sets to search: returns, default; repeat")
    ] = None,
    fees: FeesOpt = 0.001,
    step: Annotated[int | None, typer.Option(help="bars per walk-forward test block")] = None,
    sell: SellOpt = "short",
    hold: HoldOpt = "keep",
    seed: Annotated[int, typer.Option(help="sampler seed (same seed and --trials: same search)")] = 0,
    out: Annotated[Path, typer.Option("--out", "-o", help="output folder")] = Path("tradeforge-output/ml-automl"),
    top: Annotated[int, typer.Option(help="show this many best trials")] = 10,
    tz: TzOpt = None,
    store: StoreOpt = None,
    debug: DebugOpt = False,
) -> None:
    """Optuna search over model families, hyperparameters and feature choices, scored out of sample (pruned per
    walk-forward fold); the best model is refitted on the latest window and saved to the registry."""
    job = _svc().AutoMLJob(
        data=data, trials=trials, timeout=timeout, fitness=fitness, registry=registry, name=name, models=model,
        granularities=granularity, inputs=inputs, windows=window, features=features, fees=fees, step=step,
        sell=sell, hold=hold, seed=seed, out_dir=out, tz=tz, store=store,
    )  # fmt: skip
    try:
        with progress_bar("automl", unit="trials") as update:

            def trials_done(done: int, total: int | None) -> None:
                update(done, cast(int, total))  # None (a time budget only): Rich keeps the bar open-ended

            result, files = _svc().run_automl_job(job, trials_done)
    except TradeforgeError as exc:
        fail(exc, debug)
        return
    frame = result.trials.head(top)
    shown = ["number", "state", "value", "model", "features", "granularity", "datasetinputs", "window", "accuracy",
             "total_return", "n_trades"]  # fmt: skip
    table = Table(title=f"Best {len(frame)} of {len(result.trials)} trials by {result.fitness}", title_justify="left")
    for col in shown:
        table.add_column(_short(col), justify="left" if col in ("state", "model", "features") else "right")
    for _, row in frame.iterrows():
        table.add_row(*(_fmt(col, row[col]) for col in shown))
    console.print(table)
    summary = Table(title="Best model (out of sample, after fees)", show_header=False, title_justify="left")
    summary.add_column("what", style="cyan")
    summary.add_column("value")
    for key, text in result.summary():
        summary.add_row(key, text)
    console.print(summary)
    for kind, path in files.items():
        console.print(f"[green]{kind}[/]: {path}")


@ml_app.command("check-lookahead")
def check_lookahead_command(
    data: Annotated[str, typer.Option("--data", "-d", help="sample, stored series SOURCE:SYMBOL@TF or bar file")],
    features: Annotated[str, typer.Option(help=FeaturesHelp)] = "default",
    inputs: Annotated[int, typer.Option("--inputs", "-i", help="datasetinputs passed to the features")] = 5,
    granularity: Annotated[int, typer.Option("--granularity", "-g", help="granularity passed to the features")] = 1,
    points: Annotated[int, typer.Option(help="truncation points spread over the history")] = 20,
    tz: TzOpt = None,
    store: StoreOpt = None,
    debug: DebugOpt = False,
) -> None:
    """Recompute the features on the data cut short at many points and compare with the full history: exit 0
    when no value changes, exit 1 naming the columns that use later bars."""
    job = _svc().LookaheadJob(
        data=data, features=features, inputs=inputs, granularity=granularity, points=points, tz=tz, store=store
    )
    try:
        with console.status("recomputing the features on truncated histories"):
            report = _svc().run_lookahead_job(job)
    except TradeforgeError as exc:
        fail(exc, debug)
        return
    console.print(report.summary(), highlight=False, soft_wrap=True)
    if not report.clean:
        console.print(f"[bold red]look-ahead:[/] {', '.join(report.leaking_columns)}", highlight=False)
        raise typer.Exit(code=1)
    console.print("[green]clean[/]: no feature uses later bars")


@ml_app.command("models")
def models_command(registry: RegistryOpt = None, debug: DebugOpt = False) -> None:
    """List the models in the registry: name@version, family, symbol, features, training end, out-of-sample score."""
    try:
        root, versions = _svc().list_models(registry)
    except TradeforgeError as exc:
        fail(exc, debug)
        return
    if not versions:
        console.print(f"no models in {root} (save one with `tradeforge ml automl`)")
        return
    table = Table(title=f"Models in {root}", title_justify="left")
    for col in ("model", "family", "symbol", "features", "trained until", "out of sample"):
        table.add_column(col)
    for v in versions:
        meta = v.metadata
        feats = meta.get("features") or {}
        metrics = meta.get("metrics") or {}
        feature_text = (
            f"{feats.get('kind', '')} i={feats.get('datasetinputs', '')} g={feats.get('granularity', '')}"
            if isinstance(feats, dict)
            else str(feats)
        )
        scores = [f"{metrics['fitness']} {metrics['fitness_value']:.4g}"] if "fitness_value" in metrics else []
        scores += [f"acc {metrics['accuracy']:.1%}"] if isinstance(metrics.get("accuracy"), float) else []
        table.add_row(
            v.ref,
            str((meta.get("model") or {}).get("name", "")),
            str(meta.get("symbol") or ""),
            feature_text,
            str(meta.get("train_end", "")),
            ", ".join(scores),
        )
    console.print(table)


@ml_app.command("serve")
def serve_command(
    registry: RegistryOpt = None,
    host: Annotated[str, typer.Option(help="address to listen on (loopback by default)")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port")] = 8000,
    debug: DebugOpt = False,
) -> None:
    """Serve the registry's models over HTTP: POST /predict (features or recent bars), GET /models, GET /health."""

    def announce(url: str, root: Path) -> None:
        console.print(f"serving the models of {root} on {url} (POST /predict, GET /models; Ctrl-C stops)")

    try:
        _svc().serve_models(registry, host, port, announce)
    except TradeforgeError as exc:
        fail(exc, debug)


_SHORT = {"granularity": "g", "datasetinputs": "inputs", "total_return": "return", "buy_hold_return": "buy&hold",
          "max_drawdown": "max dd", "n_trades": "trades", "fees_paid": "fees"}  # fmt: skip


def _short(col: str) -> str:
    return _SHORT.get(col, col)


def _fmt(col: str, value: Any) -> str:
    if value is None or (not isinstance(value, str | dict | list) and pd.isna(value)):
        return "-"
    if col in ("total_return", "buy_hold_return", "max_drawdown", "accuracy"):
        return f"{float(value):.2%}"
    if col in ("n_trades", "granularity", "datasetinputs", "window", "number"):
        return f"{int(value):,}"
    if col == "fees_paid":
        return f"{float(value):,.2f}"
    if col == "params":
        return "" if value in ("{}", {}) else str(value)
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)
