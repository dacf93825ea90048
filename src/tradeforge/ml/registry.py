"""A versioned model registry on the file system: `ModelRegistry(root)`.

Layout: `root/<name>/<version>/model.skops` (or `model.joblib`) and `root/<name>/<version>/metadata.json`.
A version is written into a private staging directory and published with one atomic rename, so a reader sees a
version completely or not at all, and two writers racing for the same version number cannot overwrite each other
(the loser takes the next number).

Safety: the fitted pipeline is saved with skops, which loads without executing arbitrary code, whenever skops can
serialise it AND every type it needs is on the explicit allowlist `TRUSTED_TYPES` (the scikit-learn and LightGBM
internals the zoo produces); nothing is ever trusted wholesale. Otherwise it falls back to joblib (pickle). Both
formats record the file's sha256 in the metadata and check it before loading: a modified or corrupted file is
refused with DataError. The hash guards against corruption and accidental replacement, not against an attacker who
can rewrite both files: only load registries you control.
"""

from __future__ import annotations

import builtins
import contextlib
import datetime as dt
import hashlib
import io
import json
import math
import os
import platform
import re
import shutil
import tempfile
import uuid
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any, Literal

import joblib
import numpy as np
import pandas as pd

from tradeforge.core.errors import ConfigError, DataError
from tradeforge.ml.models import Model

__all__ = ["TRUSTED_TYPES", "ModelNotFoundError", "ModelRegistry", "ModelVersion", "data_hash", "library_versions"]

SCHEMA_VERSION = 1
METADATA_FILE = "metadata.json"

TRUSTED_TYPES: frozenset[str] = frozenset(
    {
        "collections.OrderedDict",
        "lightgbm.basic.Booster",
        "lightgbm.sklearn.LGBMClassifier",
        "sklearn.calibration._CalibratedClassifier",
        "sklearn.calibration._SigmoidCalibration",
        "sklearn.metrics._dist_metrics.EuclideanDistance64",
        "sklearn.metrics._dist_metrics.ManhattanDistance64",
        "sklearn.metrics._dist_metrics.MinkowskiDistance64",
        "sklearn.metrics._dist_metrics.ChebyshevDistance64",
        "sklearn.neighbors._ball_tree.BallTree",
        "sklearn.neighbors._kd_tree.KDTree",
        "sklearn.neural_network._stochastic_optimizers.AdamOptimizer",
        "sklearn.neural_network._stochastic_optimizers.SGDOptimizer",
        "sklearn.tree._tree.Tree",
    }
)
"""Types beyond skops' defaults that a zoo pipeline may contain and that the registry trusts when loading."""

USER_METADATA_KEYS: frozenset[str] = frozenset(
    {
        "description",
        "symbol",
        "timeframe",
        "features",
        "label",
        "train_start",
        "train_end",
        "data_hash",
        "metrics",
        "tags",
        "extra",
    }
)
"""The keys `save(..., metadata=...)` accepts; anything free-form goes under "extra"."""

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
_LIBRARIES = ("numpy", "scipy", "pandas", "scikit-learn", "lightgbm", "skops", "joblib", "tradeforge")
Format = Literal["auto", "skops", "joblib"]


class ModelNotFoundError(ConfigError):
    """No model (or no such version of it) in the registry."""


@dataclass(frozen=True, slots=True)
class ModelVersion:
    """One saved version: its name, number and metadata (as read from metadata.json)."""

    name: str
    version: int
    metadata: Mapping[str, Any]

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}"


def library_versions() -> dict[str, str | None]:
    """Python and the versions of the libraries a saved model depends on (None when not installed)."""
    versions: dict[str, str | None] = {"python": platform.python_version()}
    for lib in _LIBRARIES:
        try:
            versions[lib] = importlib_metadata.version(lib)
        except importlib_metadata.PackageNotFoundError:
            versions[lib] = None
    return versions


def data_hash(X: Any, y: Any = None) -> str:
    """sha256 of the training arrays: the feature values (float64), their column names and row index when X is a
    DataFrame, and the labels. Two identical training sets give the same hash on any machine."""
    digest = hashlib.sha256()
    if isinstance(X, pd.DataFrame):
        digest.update(json.dumps([str(c) for c in X.columns]).encode())
        index = X.index
        if isinstance(index, pd.DatetimeIndex):
            utc = index.tz_convert("UTC").tz_localize(None) if index.tz is not None else index
            digest.update(np.asarray(utc, dtype="datetime64[ns]").view(np.int64).tobytes())
        else:
            digest.update(json.dumps([str(i) for i in index]).encode())
    matrix = np.ascontiguousarray(np.asarray(X, dtype=np.float64))
    digest.update(json.dumps(matrix.shape).encode())
    digest.update(matrix.tobytes())
    if y is not None:
        labels = np.asarray(y)
        if labels.dtype.kind in "biuf":
            digest.update(b"num")
            digest.update(np.ascontiguousarray(labels.astype(np.float64)).tobytes())
        else:
            digest.update(b"str")
            digest.update(json.dumps([str(v) for v in labels]).encode())
    return digest.hexdigest()


class ModelRegistry:
    """Versioned models under a root directory. Versions are 1, 2, 3... per name; "name" means the latest."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        if self.root.exists() and not self.root.is_dir():
            raise ConfigError(f"model registry root {self.root} exists and is not a directory: choose another path")

    def __repr__(self) -> str:
        return f"ModelRegistry({str(self.root)!r})"

    # --- writing ------------------------------------------------------------------------------------------------

    def save(
        self,
        name: str,
        model: Model,
        metadata: Mapping[str, Any] | None = None,
        *,
        training_data: tuple[Any, Any] | None = None,
        format: Format = "auto",
    ) -> int:
        """Save a fitted model as the next version of `name`; returns the version number.

        metadata: any of USER_METADATA_KEYS (features spec, label definition, train_start/train_end, data_hash,
        metrics, ...). training_data: (X, y) to compute data_hash from. format: "auto" (skops when safe, else
        joblib), or force "skops" / "joblib". The registry adds the model's state and feature names, the artifact's
        format and sha256, the library versions and the creation time."""
        _check_name(name)
        if not isinstance(model, Model):
            raise ConfigError(f"save expects a tradeforge.ml.models.Model, got {type(model).__name__}")
        state = model.state()
        user = _user_metadata(metadata)
        if training_data is not None:
            computed = data_hash(*training_data)
            if "data_hash" in user and user["data_hash"] != computed:
                raise ConfigError("metadata['data_hash'] differs from the hash of training_data: pass only one of them")
            user["data_hash"] = computed
        fmt, payload, fallback_reason = _serialise(model, format)
        filename = f"model.{fmt}"
        record: dict[str, Any] = {
            "schema": SCHEMA_VERSION,
            "name": name,
            "version": None,
            "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "model": state,
            "feature_names": state["feature_names"],
            "classes": state["classes"],
            **user,
            "artifact": {
                "file": filename,
                "format": fmt,
                "sha256": hashlib.sha256(payload).hexdigest(),
                "bytes": len(payload),
                "fallback_reason": fallback_reason,
            },
            "libraries": library_versions(),
        }
        name_dir = self.root / name
        name_dir.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=name_dir))
        try:
            _atomic_write(staging / filename, payload)
            for _attempt in range(1000):
                version = (self._latest(name) or 0) + 1
                record["version"] = version
                _atomic_write(staging / METADATA_FILE, _dump_json(record))
                try:
                    os.rename(staging, name_dir / str(version))
                except OSError:
                    if (name_dir / str(version)).is_dir():
                        continue  # another writer published this number first: take the next one
                    raise
                return version
            raise ConfigError(f"could not allocate a version for {name!r} in {name_dir}")  # pragma: no cover
        finally:
            if staging.exists():
                shutil.rmtree(staging, ignore_errors=True)

    def delete(self, ref: str) -> list[int]:
        """Delete one version ("name@3") or every version of a model ("name"); returns the versions deleted."""
        name, version = _parse_ref(ref)
        versions = [self._resolve(name, version)] if version is not None else self.versions(name)
        if not versions:
            raise self._not_found(name, None)
        for v in versions:
            target = self.root / name / str(v)
            trash = self.root / name / f".trash-{uuid.uuid4().hex}"
            os.rename(target, trash)  # atomic: readers never see a half-deleted version
            shutil.rmtree(trash)
        with contextlib.suppress(OSError):
            (self.root / name).rmdir()  # only succeeds when nothing else is left
        return versions

    # --- reading ------------------------------------------------------------------------------------------------

    def names(self) -> builtins.list[str]:
        """Every model name with at least one version, sorted."""
        if not self.root.is_dir():
            return []
        return sorted(
            p.name for p in self.root.iterdir() if p.is_dir() and _NAME_RE.match(p.name) and self.versions(p.name)
        )

    def versions(self, name: str) -> builtins.list[int]:
        """The versions of `name`, ascending (empty when unknown)."""
        _check_name(name)
        name_dir = self.root / name
        if not name_dir.is_dir():
            return []
        return sorted(int(p.name) for p in name_dir.iterdir() if p.name.isdigit() and (p / METADATA_FILE).is_file())

    def list(self, name: str | None = None) -> builtins.list[ModelVersion]:
        """Every saved version (of one model, or of all), sorted by name then version."""
        names = [name] if name is not None else self.names()
        return [ModelVersion(n, v, self._read_metadata(n, v)) for n in names for v in self.versions(n)]

    def resolve(self, ref: str) -> tuple[str, int]:
        """("name", version) for "name@3", "name@latest" or "name"; ModelNotFoundError when absent."""
        name, version = _parse_ref(ref)
        return name, self._resolve(name, version)

    def metadata(self, ref: str) -> dict[str, Any]:
        """The metadata of a version ("name@3") or of the latest ("name")."""
        name, version = self.resolve(ref)
        return self._read_metadata(name, version)

    def load(self, ref: str, *, extra_trusted: Iterable[str] = ()) -> Model:
        """The fitted Model saved as "name@version" (or the latest for "name").

        The file's sha256 is checked against the metadata first (DataError when they differ). A skops file may only
        contain types skops trusts by default, TRUSTED_TYPES, or types you pass in extra_trusted."""
        name, version = self.resolve(ref)
        meta = self._read_metadata(name, version)
        try:
            artifact = meta["artifact"]
            path = self.root / name / str(version) / str(artifact["file"])
            fmt, expected = str(artifact["format"]), str(artifact["sha256"])
        except (KeyError, TypeError) as exc:
            raise DataError(f"metadata of {name}@{version} has no valid 'artifact' entry ({exc!r})") from exc
        try:
            payload = path.read_bytes()
        except OSError as exc:
            raise DataError(f"model file of {name}@{version} cannot be read: {exc}") from exc
        actual = hashlib.sha256(payload).hexdigest()
        if actual != expected:
            raise DataError(
                f"model file {path} has sha256 {actual} but {expected} was recorded when {name}@{version} was "
                "saved: the file was modified or corrupted. Refusing to load it; save the model again."
            )
        _warn_on_version_drift(f"{name}@{version}", meta.get("libraries"))
        pipeline = _deserialise(fmt, payload, frozenset(extra_trusted), f"{name}@{version}")
        return Model.from_state(meta["model"], pipeline)

    # --- internals ----------------------------------------------------------------------------------------------

    def _latest(self, name: str) -> int | None:
        versions = self.versions(name)
        return versions[-1] if versions else None

    def _resolve(self, name: str, version: int | None) -> int:
        versions = self.versions(name)
        if version is None:
            if not versions:
                raise self._not_found(name, None)
            return versions[-1]
        if version not in versions:
            raise self._not_found(name, version)
        return version

    def _not_found(self, name: str, version: int | None) -> ModelNotFoundError:
        if version is not None and self.versions(name):
            return ModelNotFoundError(
                f"model {name!r} has no version {version}; versions: {self.versions(name)} (use {name!r} for latest)"
            )
        known = self.names()
        return ModelNotFoundError(
            f"no model named {name!r} in registry {self.root}; known models: {known or 'none (save one first)'}"
        )

    def _read_metadata(self, name: str, version: int) -> dict[str, Any]:
        path = self.root / name / str(version) / METADATA_FILE
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise DataError(f"metadata of {name}@{version} ({path}) cannot be read: {exc}") from exc
        if not isinstance(data, dict):
            raise DataError(f"metadata of {name}@{version} ({path}) is not a JSON object")
        return data


# --- helpers ------------------------------------------------------------------------------------------------------


def _check_name(name: str) -> None:
    if not isinstance(name, str) or not _NAME_RE.match(name) or name.isdigit():
        raise ConfigError(
            f"invalid model name {name!r}: use 1-128 letters, digits, '.', '_' or '-', starting with a letter or "
            "digit (not only digits, no '@' or '/')"
        )


def _parse_ref(ref: str) -> tuple[str, int | None]:
    if not isinstance(ref, str):
        raise ConfigError(f"model reference must be a string like 'name' or 'name@3', got {ref!r}")
    name, sep, tail = ref.partition("@")
    _check_name(name)
    if not sep or tail == "latest":
        return name, None
    if not tail.isdigit() or int(tail) < 1:
        raise ConfigError(f"invalid version in {ref!r}: use 'name@N' with N >= 1, 'name@latest' or just 'name'")
    return name, int(tail)


def _user_metadata(metadata: Mapping[str, Any] | None) -> dict[str, Any]:
    if metadata is None:
        return {}
    if not isinstance(metadata, Mapping):
        raise ConfigError(f"metadata must be a mapping, got {type(metadata).__name__}")
    unknown = sorted(set(map(str, metadata)) - USER_METADATA_KEYS)
    if unknown:
        raise ConfigError(
            f"unknown metadata key(s) {unknown}: use {sorted(USER_METADATA_KEYS)} (free-form values go under 'extra')"
        )
    return {str(k): _to_json(v, str(k)) for k, v in metadata.items()}


def _to_json(value: Any, path: str) -> Any:
    """A metadata value as plain JSON: numpy to Python, timestamps to ISO 8601, NaN to None."""
    if value is None or isinstance(value, bool | str | int):
        return value
    if isinstance(value, np.generic):
        return _to_json(value.item(), path)
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, pd.Timestamp | dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, np.datetime64):
        return pd.Timestamp(value).isoformat()
    if isinstance(value, Mapping):
        return {str(k): _to_json(v, f"{path}.{k}") for k, v in value.items()}
    if isinstance(value, np.ndarray | builtins.list | tuple | set | frozenset):
        return [_to_json(v, f"{path}[{i}]") for i, v in enumerate(value)]
    raise ConfigError(
        f"metadata value at {path!r} is a {type(value).__name__}, which JSON cannot store: convert it to a string, "
        "number, list or dict"
    )


def _dump_json(record: Mapping[str, Any]) -> bytes:
    return json.dumps(record, indent=2, sort_keys=False, allow_nan=False).encode("utf-8")


def _atomic_write(path: Path, payload: bytes) -> None:
    """Write bytes to a temporary file beside `path`, flush it to disk, then os.replace it into place."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(payload)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _serialise(model: Model, format: Format) -> tuple[str, bytes, str | None]:
    """(format, bytes, why joblib was used instead of skops in "auto" mode, or None)."""
    if format not in ("auto", "skops", "joblib"):
        raise ConfigError(f"format must be 'auto', 'skops' or 'joblib', got {format!r}")
    reason: str | None = None
    if format in ("auto", "skops"):
        import skops.io as sio

        try:
            payload = sio.dumps(model.pipeline)
            untrusted = set(sio.get_untrusted_types(data=payload))
        except Exception as exc:  # skops raises many types for objects it cannot represent
            if format == "skops":
                raise ConfigError(f"skops cannot serialise this {model.name!r} pipeline: {exc}") from exc
            reason = f"skops cannot serialise it: {type(exc).__name__}: {exc}"
        else:
            outside = sorted(untrusted - TRUSTED_TYPES)
            if not outside:
                return "skops", payload, None
            reason = f"it needs types outside TRUSTED_TYPES: {outside}"
            if format == "skops":
                raise ConfigError(
                    f"the {model.name!r} pipeline needs types outside the registry's allowlist: {outside}; save it "
                    "with format='joblib' (hash-checked) or extend TRUSTED_TYPES after reviewing them"
                )
    buffer = io.BytesIO()
    joblib.dump(model.pipeline, buffer)
    return "joblib", buffer.getvalue(), reason


def _deserialise(fmt: str, payload: bytes, extra_trusted: frozenset[str], ref: str) -> Any:
    if fmt == "skops":
        import skops.io as sio

        untrusted = set(sio.get_untrusted_types(data=payload))
        refused = sorted(untrusted - TRUSTED_TYPES - extra_trusted)
        if refused:
            raise ConfigError(
                f"{ref} contains types the registry does not trust: {refused}. Review them and pass "
                "load(..., extra_trusted=[...]) to allow exactly those."
            )
        return sio.loads(payload, trusted=sorted(untrusted))
    if fmt == "joblib":
        return joblib.load(io.BytesIO(payload))
    raise DataError(f"{ref} has unknown artifact format {fmt!r}: expected 'skops' or 'joblib'")


def _warn_on_version_drift(ref: str, saved: Any) -> None:
    if not isinstance(saved, Mapping):
        return
    now = library_versions()
    drift = {
        lib: (saved.get(lib), now.get(lib))
        for lib in ("scikit-learn", "lightgbm", "numpy")
        if saved.get(lib) is not None and saved.get(lib) != now.get(lib)
    }
    if drift:
        details = ", ".join(f"{lib} {old} -> {new}" for lib, (old, new) in drift.items())
        warnings.warn(
            f"{ref} was saved with other library versions ({details}); predictions may differ. Retrain and save "
            "it again with the current versions.",
            UserWarning,
            stacklevel=3,
        )
