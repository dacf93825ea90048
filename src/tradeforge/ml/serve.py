"""The live inference API: `create_app(registry) -> FastAPI`, and `serve(...)` to run it with uvicorn.

Endpoints:
  POST /predict        {"model": "name@3" | "name", "features": [{feature: value, ...}, ...]}
                       or {"model": ..., "bars": [{"timestamp", "open", "high", "low", "close", "volume"}, ...]}
                       -> class and per-class probabilities for each row (for bars: the last bar), model name and
                       version, feature names.
  GET  /models         every model with its versions and a summary of the latest version's metadata.
  GET  /models/{ref}   the full metadata of one version ("name@3") or of the latest ("name").
  GET  /health         liveness.

Errors: a malformed request (wrong types, missing fields, NaN or infinity, empty rows, unknown or missing feature
names, both or neither of features/bars) is 422 with a message; an unknown model or version is 404; bars the server
cannot turn into features (no feature builder, too few bars for the feature window) are 400.
"""

from __future__ import annotations

import datetime as dt
import math
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Annotated, Any

import numpy as np
import pandas as pd
from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, model_validator

from tradeforge.core.errors import ConfigError, DataError, TradeforgeError
from tradeforge.ml.models import Model
from tradeforge.ml.registry import ModelNotFoundError, ModelRegistry

__all__ = ["FeatureBuilder", "PredictRequest", "PredictResponse", "create_app", "serve"]

FeatureBuilder = Callable[[pd.DataFrame, Mapping[str, Any]], pd.DataFrame]
"""(bars, model metadata) -> features. bars: a DataFrame indexed by a tz-aware UTC DatetimeIndex "timestamp" with
columns open, high, low, close, volume (oldest first); the result must hold the model's feature columns on the same
index. The last row is predicted."""

MAX_ROWS = 10_000
MAX_BARS = 100_000
FiniteNumber = Annotated[float, Field(strict=True, allow_inf_nan=False)]
PositiveNumber = Annotated[float, Field(strict=True, allow_inf_nan=False, gt=0)]
ClassLabel = int | float | str
_REF_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,127}(@([0-9]+|latest))?$"


class Bar(BaseModel):
    """One OHLCV bar; timestamps without a time zone are taken as UTC."""

    model_config = ConfigDict(extra="forbid")

    timestamp: dt.datetime
    open: PositiveNumber
    high: PositiveNumber
    low: PositiveNumber
    close: PositiveNumber
    volume: Annotated[float, Field(strict=True, allow_inf_nan=False, ge=0)] = 0.0

    @model_validator(mode="after")
    def _consistent(self) -> Bar:
        if self.high < max(self.open, self.close) or self.low > min(self.open, self.close):
            raise ValueError(
                f"bar at {self.timestamp.isoformat()} is inconsistent: need low <= open, close <= high "
                f"(got open={self.open}, high={self.high}, low={self.low}, close={self.close})"
            )
        return self


class PredictRequest(BaseModel):
    """Exactly one of `features` (rows of feature name -> number) or `bars` (recent OHLCV bars, oldest first)."""

    model_config = ConfigDict(extra="forbid")

    model: str = Field(pattern=_REF_PATTERN, description='"name@version", "name@latest" or "name" (latest)')
    features: list[dict[str, FiniteNumber]] | None = Field(default=None, min_length=1, max_length=MAX_ROWS)
    bars: list[Bar] | None = Field(default=None, min_length=1, max_length=MAX_BARS)

    @model_validator(mode="after")
    def _one_input(self) -> PredictRequest:
        if (self.features is None) == (self.bars is None):
            raise ValueError("send exactly one of 'features' (rows of feature values) or 'bars' (recent OHLCV bars)")
        if self.features is not None:
            empty = [i for i, row in enumerate(self.features) if not row]
            if empty:
                raise ValueError(f"feature rows {empty[:10]} are empty: every row needs every feature of the model")
        if self.bars is not None:
            stamps = [_utc(b.timestamp) for b in self.bars]
            bad = [i for i in range(1, len(stamps)) if stamps[i] <= stamps[i - 1]]
            if bad:
                raise ValueError(
                    f"bar timestamps must be strictly increasing (oldest first); bar {bad[0]} "
                    f"({stamps[bad[0]].isoformat()}) is not after bar {bad[0] - 1}"
                )
        return self


class Prediction(BaseModel):
    class_: ClassLabel = Field(alias="class")
    probabilities: dict[str, float] | None = Field(
        description="probability per class (keys are the classes as strings); null for an uncalibrated SVM"
    )


class PredictResponse(BaseModel):
    model: str
    version: int
    feature_names: list[str]
    classes: list[ClassLabel]
    predictions: list[Prediction]
    timestamp: str | None = Field(default=None, description="for bars: the time of the bar that was predicted")


class ModelSummary(BaseModel):
    name: str
    latest: int
    versions: list[int]
    summary: dict[str, Any]


class ModelsResponse(BaseModel):
    models: list[ModelSummary]


class HealthResponse(BaseModel):
    status: str
    models: int


class _ModelCache:
    """Loaded models by (name, version), least recently used evicted; thread-safe (sync endpoints run in threads)."""

    def __init__(self, registry: ModelRegistry, size: int) -> None:
        self._registry = registry
        self._size = size
        self._items: OrderedDict[tuple[str, int], tuple[Model, dict[str, Any]]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, name: str, version: int) -> tuple[Model, dict[str, Any]]:
        key = (name, version)
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        loaded = (self._registry.load(f"{name}@{version}"), self._registry.metadata(f"{name}@{version}"))
        with self._lock:
            self._items[key] = loaded
            self._items.move_to_end(key)
            while len(self._items) > self._size:
                self._items.popitem(last=False)
        return loaded


_SUMMARY_KEYS = (
    "created_at",
    "description",
    "symbol",
    "timeframe",
    "feature_names",
    "classes",
    "label",
    "train_start",
    "train_end",
    "metrics",
)


def create_app(
    registry: ModelRegistry, *, feature_builder: FeatureBuilder | None = None, cache_size: int = 16
) -> FastAPI:
    """The inference API over `registry`. Without a feature_builder, requests must send features, not bars."""
    if not isinstance(registry, ModelRegistry):
        raise ConfigError(f"create_app needs a ModelRegistry, got {type(registry).__name__}")
    if cache_size < 1:
        raise ConfigError(f"cache_size must be >= 1, got {cache_size}")
    cache = _ModelCache(registry, cache_size)
    app = FastAPI(title="tradeforge inference", version="1")

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        # FastAPI's default handler echoes the offending input, which fails to render when it is NaN or infinity.
        return JSONResponse(status_code=422, content={"detail": [_error_entry(e) for e in exc.errors()]})

    @app.get("/health", response_model=HealthResponse)
    def health() -> HealthResponse:
        return HealthResponse(status="ok", models=len(registry.names()))

    @app.get("/models", response_model=ModelsResponse)
    def models() -> ModelsResponse:
        out = []
        for name in registry.names():
            versions = registry.versions(name)
            if not versions:
                continue  # deleted meanwhile
            meta = registry.metadata(f"{name}@{versions[-1]}")
            summary = {k: meta[k] for k in _SUMMARY_KEYS if k in meta}
            summary["model"] = meta.get("model", {}).get("name")
            summary["params"] = meta.get("model", {}).get("params")
            out.append(ModelSummary(name=name, latest=versions[-1], versions=versions, summary=summary))
        return ModelsResponse(models=out)

    @app.get("/models/{ref}")
    def model_metadata(ref: str) -> dict[str, Any]:
        try:
            return registry.metadata(ref)
        except ModelNotFoundError as exc:
            raise HTTPException(status_code=404, detail=str(exc)) from exc
        except ConfigError as exc:
            raise HTTPException(status_code=422, detail=str(exc)) from exc

    @app.post("/predict", response_model=PredictResponse)
    def predict(request: PredictRequest) -> PredictResponse:
        try:
            name, version = registry.resolve(request.model)
        except ModelNotFoundError as exc:
            raise HTTPException(status_code=404, detail=str(exc)) from exc
        except ConfigError as exc:
            raise HTTPException(status_code=422, detail=str(exc)) from exc
        try:
            model, meta = cache.get(name, version)
        except ModelNotFoundError as exc:  # deleted between resolve and load
            raise HTTPException(status_code=404, detail=str(exc)) from exc
        except TradeforgeError as exc:
            raise HTTPException(status_code=500, detail=f"model {name}@{version} cannot be loaded: {exc}") from exc
        feature_names = list(model.feature_names or ())
        timestamp = None
        if request.features is not None:
            frame = _rows_to_frame(request.features, feature_names, f"{name}@{version}")
        elif request.bars is not None:
            frame, timestamp = _features_from_bars(request.bars, feature_builder, meta, feature_names)
        else:  # unreachable: PredictRequest requires exactly one of them
            raise HTTPException(status_code=422, detail="send exactly one of 'features' or 'bars'")
        try:
            labels = model.predict(frame)
            proba = model.predict_proba(frame) if model.has_proba else None
        except DataError as exc:
            raise HTTPException(status_code=422, detail=str(exc)) from exc
        classes = [_py(c) for c in model.classes_]
        predictions = [
            Prediction.model_validate(
                {
                    "class": _py(label),
                    "probabilities": None
                    if proba is None
                    else {str(c): float(p) for c, p in zip(classes, proba[i], strict=True)},
                }
            )
            for i, label in enumerate(labels)
        ]
        return PredictResponse(
            model=name,
            version=version,
            feature_names=feature_names,
            classes=classes,
            predictions=predictions,
            timestamp=timestamp,
        )

    return app


def serve(
    registry: ModelRegistry,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    feature_builder: FeatureBuilder | None = None,
    log_level: str = "info",
) -> None:
    """Run the inference API with uvicorn until interrupted (binds to loopback unless told otherwise)."""
    import uvicorn

    uvicorn.run(create_app(registry, feature_builder=feature_builder), host=host, port=port, log_level=log_level)


# --- helpers ------------------------------------------------------------------------------------------------------


def _rows_to_frame(rows: list[dict[str, float]], feature_names: list[str], ref: str) -> pd.DataFrame:
    expected = set(feature_names)
    for i, row in enumerate(rows):
        unknown = sorted(set(row) - expected)
        missing = [n for n in feature_names if n not in row]
        if unknown or missing:
            parts = [f"unknown feature(s) {unknown}"] if unknown else []
            parts += [f"missing feature(s) {missing}"] if missing else []
            raise HTTPException(
                status_code=422,
                detail=f"features row {i}: {'; '.join(parts)}. Model {ref} expects exactly {feature_names}",
            )
    return pd.DataFrame([[row[n] for n in feature_names] for row in rows], columns=feature_names, dtype=np.float64)


def _features_from_bars(
    bars: list[Bar], builder: FeatureBuilder | None, meta: Mapping[str, Any], feature_names: list[str]
) -> tuple[pd.DataFrame, str]:
    if builder is None:
        raise HTTPException(
            status_code=400,
            detail="this server has no feature builder, so it cannot compute features from bars: send 'features'",
        )
    index = pd.DatetimeIndex([_utc(b.timestamp) for b in bars], name="timestamp")
    frame = pd.DataFrame(
        {
            "open": [b.open for b in bars],
            "high": [b.high for b in bars],
            "low": [b.low for b in bars],
            "close": [b.close for b in bars],
            "volume": [b.volume for b in bars],
        },
        index=index,
        dtype=np.float64,
    )
    try:
        features = builder(frame, meta)
    except TradeforgeError as exc:
        raise HTTPException(status_code=400, detail=f"cannot compute features from the bars sent: {exc}") from exc
    if not isinstance(features, pd.DataFrame) or len(features) == 0:
        raise HTTPException(status_code=500, detail="the feature builder returned no rows (expected a DataFrame)")
    missing = [n for n in feature_names if n not in features.columns]
    if missing:
        raise HTTPException(
            status_code=500, detail=f"the feature builder does not produce feature(s) {missing} the model needs"
        )
    last = features[feature_names].iloc[[-1]].astype(np.float64)
    bad = [n for n in feature_names if not np.isfinite(last[n].iloc[0])]
    if bad:
        raise HTTPException(
            status_code=400,
            detail=f"{len(bars)} bars are not enough to compute feature(s) {bad} for the last bar (NaN): send more "
            "bars, at least the longest feature window plus one",
        )
    when = last.index[0]
    return last.reset_index(drop=True), when.isoformat() if isinstance(when, pd.Timestamp) else str(when)


def _error_entry(error: Mapping[str, Any]) -> dict[str, Any]:
    """One validation error as JSON: where, what and (for a scalar) the offending value, NaN/infinity as text."""
    entry: dict[str, Any] = {"loc": [str(p) for p in error.get("loc", ())], "msg": str(error.get("msg", "")),
                             "type": str(error.get("type", ""))}  # fmt: skip
    value = error.get("input")
    if isinstance(value, float) and not math.isfinite(value):
        entry["input"] = str(value)
    elif value is None or isinstance(value, bool | int | float | str):
        entry["input"] = value
    return entry


def _utc(moment: dt.datetime) -> dt.datetime:
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment.astimezone(dt.UTC)


def _py(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value
