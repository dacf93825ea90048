"""Machine-learning use cases behind `tradeforge ml ...`: grid, automl, check-lookahead, serve, models.

Data names are those of every command (a bundled sample, a stored series SOURCE:SYMBOL@TF, a bar file). The
model registry lives in a folder chosen once (``models_root``). A custom feature function is given as
``file.py:function`` (see tradeforge.ml.experiments_features for what it receives and returns).
"""

from __future__ import annotations

import ast
import functools
import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tradeforge.core.bars import BarSeries
from tradeforge.core.errors import ConfigError
from tradeforge.ml.automl import AutoMLResult, SearchSpace, automl
from tradeforge.ml.experiments import ExperimentGrid, GridResult, run_grid
from tradeforge.ml.experiments_features import (
    BUILTIN_FEATURES,
    FeatureSource,
    bars_feature_builder,
    feature_computation,
)
from tradeforge.ml.features import FeatureSet
from tradeforge.ml.lookahead import LookaheadReport, check_lookahead
from tradeforge.ml.registry import ModelRegistry, ModelVersion
from tradeforge.research.executors import Executor, make_executor
from tradeforge.service.backtest import load_data
from tradeforge.service.data import user_data_dir
from tradeforge.service.strategy_loader import import_user_file
from tradeforge.service.sweep import parse_values

Progress = Callable[[int, int], None]


def models_root(explicit: str | os.PathLike[str] | None = None) -> Path:
    """Where the model registry lives: ``explicit``, else $TRADEFORGE_MODELS, else the user's data folder
    (service.data.user_data_dir) / models."""
    if explicit is not None and str(explicit):
        return Path(explicit).expanduser()
    env = os.environ.get("TRADEFORGE_MODELS")
    if env:
        return Path(env).expanduser()
    return user_data_dir() / "models"


def load_features(ref: str) -> FeatureSource:
    """'returns', 'default', or 'file.py:name' where name is a FeatureSet or a function of the bars."""
    if ref in BUILTIN_FEATURES:
        return ref
    path_text, sep, name = ref.rpartition(":")
    path = Path(path_text)
    if not sep or path.suffix != ".py" or not name:
        raise ConfigError(
            f"unknown features {ref!r}: use {' or '.join(BUILTIN_FEATURES)}, or file.py:function for your own "
            "(a function of the bars returning a DataFrame with one row per bar, or a FeatureSet)"
        )
    if not path.is_file():
        raise ConfigError(f"feature file {path} does not exist")
    module = import_user_file(path)
    obj = getattr(module, name, None)
    if obj is None:
        usable = [k for k, v in vars(module).items() if callable(v) or isinstance(v, FeatureSet)]
        found = [k for k in usable if not k.startswith("_")]
        raise ConfigError(f"{path} has no {name!r}; it has: {', '.join(found) or 'nothing usable'}")
    if isinstance(obj, FeatureSet):
        return obj
    if not callable(obj):
        raise ConfigError(f"{path}:{name} is a {type(obj).__name__}, not a feature function or a FeatureSet")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()[:12]
    wrapped = functools.partial(obj)  # carries the name the results are filed under, without touching the function
    wrapped.tradeforge_ref = f"{path.name}:{name}@{digest}"  # type: ignore[attr-defined]
    return wrapped


def parse_model_params(items: list[str]) -> dict[str, dict[str, list[Any]]]:
    """['knn.n_neighbors=3,5,15', 'rf.max_depth=3:9:3'] -> {'knn': {'n_neighbors': [3, 5, 15]}, ...}."""
    out: dict[str, dict[str, list[Any]]] = {}
    for item in items:
        lhs, sep, values = item.partition("=")
        model, dot, param = lhs.strip().rpartition(".")
        if not sep or not dot or not model or not param or not values.strip():
            raise ConfigError(
                f"--param {item!r}: write MODEL.PARAMETER=A,B,C or MODEL.PARAMETER=START:STOP:STEP, e.g. "
                "'Random Forest.max_depth=3,5,8' or knn.n_neighbors=5:25:10"
            )
        grid = out.setdefault(model.strip(), {})
        if param in grid:
            raise ConfigError(f"--param {model}.{param} is given twice")
        grid[param.strip()] = _values(values.strip())
    return out


def _values(text: str) -> list[Any]:
    if ":" in text:
        return parse_values(text)
    out: list[Any] = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        try:
            out.append(ast.literal_eval(part))
        except (ValueError, SyntaxError):
            out.append(part)
    return out


def _executor(workers: int | None, cluster: str | None) -> Executor:
    if cluster is not None and workers is not None:
        raise ConfigError("give either --workers (local processes) or --cluster (a Dask scheduler), not both")
    return make_executor(cluster if cluster is not None else workers)


def _load_symbols(refs: list[str], tz: str | None, store: Path | None) -> dict[str, BarSeries]:
    if not refs:
        raise ConfigError("no data given: pass --data with a sample name such as BTC-PERP, a stored series or a file")
    if len(set(refs)) != len(refs):
        raise ConfigError(f"--data lists a symbol twice: {refs}")
    return {ref: load_data(ref, tz, store)[0] for ref in refs}


# --- grid -------------------------------------------------------------------------------------------------------


@dataclass
class GridJob:
    data: list[str]
    granularities: list[int] | None = None
    inputs: list[int] | None = None
    windows: list[int] | None = None
    models: list[str] | None = None
    params: list[str] = field(default_factory=list)
    features: str = "returns"
    fees: float = 0.001
    threshold: float | None = None
    step: int | None = None
    sell: str = "short"
    hold: str = "keep"
    oos_start: str | None = None
    workers: int | None = None
    cluster: str | None = None
    out_dir: Path = Path("tradeforge-output/ml-grid")
    retry_errors: bool = False
    tz: str | None = None
    store: Path | None = None


def make_grid(job: GridJob) -> ExperimentGrid:
    defaults = ExperimentGrid()
    oos: int | str | None = job.oos_start
    if isinstance(oos, str) and oos.strip().isdigit():
        oos = int(oos)
    return ExperimentGrid(
        granularities=tuple(job.granularities or defaults.granularities),
        datasetinputs=tuple(job.inputs or defaults.datasetinputs),
        windows=tuple(job.windows or defaults.windows),
        models=tuple(job.models or defaults.models),
        model_params=parse_model_params(job.params),
        features=load_features(job.features),
        fees=job.fees,
        threshold=job.threshold,
        step=job.step,
        sell=job.sell,
        hold=job.hold,
        oos_start=oos,
    )


def run_grid_job(job: GridJob, progress: Progress | None = None) -> tuple[GridResult, dict[str, Path]]:
    """Run (or resume) the grid; write the leaderboard (SQLite) and its CSV export into job.out_dir."""
    grid = make_grid(job)
    data = _load_symbols(job.data, job.tz, job.store)
    executor = _executor(job.workers, job.cluster)
    try:
        result = run_grid(data, grid, job.out_dir, executor=executor, retry_errors=job.retry_errors, progress=progress)
    finally:
        close = getattr(executor, "close", None)
        if callable(close):
            close()
    files = {"leaderboard": result.leaderboard.path, "csv": result.leaderboard.to_csv(job.out_dir / "leaderboard.csv")}
    frame = result.frame
    if "status" in frame.columns and (frame["status"] == "ok").any():
        from tradeforge.ml.plots import leaderboard_chart

        files["chart"] = job.out_dir / "leaderboard.html"
        leaderboard_chart(frame, path=files["chart"])
    return result, files


# --- automl -----------------------------------------------------------------------------------------------------


@dataclass
class AutoMLJob:
    data: str
    trials: int | None = None
    timeout: float | None = None
    fitness: str = "sortino"
    registry: Path | None = None
    name: str | None = None
    models: list[str] | None = None
    granularities: list[int] | None = None
    inputs: list[int] | None = None
    windows: list[int] | None = None
    features: list[str] | None = None
    fees: float = 0.001
    step: int | None = None
    sell: str = "short"
    hold: str = "keep"
    seed: int = 0
    out_dir: Path = Path("tradeforge-output/ml-automl")
    tz: str | None = None
    store: Path | None = None


def run_automl_job(job: AutoMLJob, progress: Callable[[int, int | None], None] | None = None) -> tuple[
    AutoMLResult, dict[str, Path]
]:  # fmt: skip
    """Search, save the best model to the registry, write trials.csv and summary.json into job.out_dir."""
    defaults = SearchSpace()
    space = SearchSpace(
        models=tuple(job.models or defaults.models),
        granularities=tuple(job.granularities or defaults.granularities),
        datasetinputs=tuple(job.inputs or defaults.datasetinputs),
        windows=tuple(job.windows or defaults.windows),
        features=tuple(job.features or defaults.features),
    )
    bars, _ = load_data(job.data, job.tz, job.store)
    registry = ModelRegistry(models_root(job.registry))
    name = job.name or _default_name(job.data)
    result = automl(
        bars, symbol=job.data, space=space, fitness=job.fitness, trials=job.trials, timeout=job.timeout,
        seed=job.seed, fees=job.fees, step=job.step, sell=job.sell, hold=job.hold, registry=registry, name=name,
        progress=progress,
    )  # fmt: skip
    job.out_dir.mkdir(parents=True, exist_ok=True)
    files = {"trials": job.out_dir / "trials.csv", "summary": job.out_dir / "summary.json"}
    result.trials.to_csv(files["trials"], index=False)
    summary = {
        "data": job.data,
        "fitness": result.fitness,
        "best_value": result.best_value,
        "best": result.best_config,
        "metrics": result.best_metrics,
        "counts": result.counts,
        "model": result.ref,
        "registry": str(registry.root),
    }
    files["summary"].write_text(json.dumps(summary, indent=2, default=_json_default))
    return result, files


def _default_name(ref: str) -> str:
    stem = Path(ref).stem if Path(ref).suffix else ref
    cleaned = "".join(ch if ch.isalnum() or ch in "._-" else "-" for ch in stem).strip("-.") or "model"
    return f"automl-{cleaned}"[:128]


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    return str(value)


# --- look-ahead, registry, serving ---------------------------------------------------------------------------------


@dataclass
class LookaheadJob:
    data: str
    features: str = "default"
    inputs: int = 5
    granularity: int = 1
    points: int = 20
    tz: str | None = None
    store: Path | None = None


def run_lookahead_job(job: LookaheadJob) -> LookaheadReport:
    """Recompute the features on the data cut short at many points and compare with the full history."""
    source = load_features(job.features)
    bars, _ = load_data(job.data, job.tz, job.store)
    return check_lookahead(feature_computation(source, job.inputs, job.granularity), bars, points=job.points)


def list_models(registry: Path | None = None) -> tuple[Path, list[ModelVersion]]:
    """The registry's folder and every saved version in it."""
    root = models_root(registry)
    return root, ModelRegistry(root).list()


def serve_models(
    registry: Path | None, host: str, port: int, announce: Callable[[str, Path], None] | None = None
) -> None:
    """Run the inference API over the registry until interrupted (bars are turned into features for models
    saved with a built-in feature spec). announce(url, registry folder) is called once the settings are valid."""
    from tradeforge.ml.serve import serve

    if not 0 < port < 65536:
        raise ConfigError(f"--port must be between 1 and 65535, got {port}")
    root = models_root(registry)
    store = ModelRegistry(root)
    if announce is not None:
        announce(f"http://{host}:{port}", root)
    serve(store, host=host, port=port, feature_builder=bars_feature_builder)
