"""The model registry: versions, metadata, safe formats, hash checks, atomic publication, identical predictions."""

from __future__ import annotations

import json
import os
import threading
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.exceptions import ConvergenceWarning

from tradeforge.core.errors import ConfigError, DataError
from tradeforge.data import load_sample_frame
from tradeforge.ml import registry as registry_module
from tradeforge.ml.models import MODEL_NAMES, make_model
from tradeforge.ml.registry import ModelNotFoundError, ModelRegistry, data_hash, library_versions


def returns_dataset(rows: int = 2400, inputs: int = 10, horizon: int = 5) -> tuple[pd.DataFrame, np.ndarray]:
    """The last `inputs` log returns of real BTC-PERP 1m closes -> buy (1) / sell (-1) / hold (0) after `horizon`
    bars with a 0.1% threshold; rows indexed by bar time."""
    close = load_sample_frame("BTC-PERP")["close"].iloc[: rows + inputs + horizon + 1]
    c = close.to_numpy()
    windows = np.lib.stride_tricks.sliding_window_view(np.diff(np.log(c)), inputs)[:-horizon]
    future = np.log(c[inputs + horizon :] / c[inputs:-horizon])
    labels = np.where(future > 0.001, 1, np.where(future < -0.001, -1, 0))
    X = pd.DataFrame(
        windows, columns=[f"ret_{i}" for i in range(inputs, 0, -1)], index=close.index[inputs : inputs + len(windows)]
    )
    return X.iloc[:rows], labels[:rows]


@pytest.fixture(scope="module")
def data() -> tuple[pd.DataFrame, np.ndarray]:
    return returns_dataset()


@pytest.fixture()
def registry(tmp_path: Path) -> ModelRegistry:
    return ModelRegistry(tmp_path / "models")


def fitted(name: str, X: pd.DataFrame, y: np.ndarray, **kw: object):  # type: ignore[no-untyped-def]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return make_model(name, **kw).fit(X, y, classes=[-1, 0, 1])  # type: ignore[arg-type]


# --- saved and loaded models predict identically --------------------------------------------------------------------


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_saved_and_loaded_model_predicts_identically(
    name: str, registry: ModelRegistry, data: tuple[pd.DataFrame, np.ndarray]
) -> None:
    X, y = data
    model = fitted(name, X.iloc[:1800], y[:1800])
    version = registry.save("btc-returns", model, {"label": {"kind": "fixed-horizon", "horizon": 5}})
    loaded = registry.load(f"btc-returns@{version}")
    test = X.iloc[1800:]
    assert loaded is not model
    assert loaded.name == name and loaded.params == model.params
    assert loaded.feature_names == model.feature_names
    assert list(loaded.classes_) == [-1, 0, 1]
    assert np.array_equal(loaded.predict(test), model.predict(test))
    assert np.array_equal(loaded.predict_proba(test), model.predict_proba(test))
    # every zoo family is stored in the safe format, without falling back to pickle
    meta = registry.metadata("btc-returns")
    assert meta["artifact"]["format"] == "skops" and meta["artifact"]["fallback_reason"] is None
    assert (registry.root / "btc-returns" / str(version) / "model.skops").is_file()


def test_missing_class_model_round_trips(registry: ModelRegistry, data: tuple[pd.DataFrame, np.ndarray]) -> None:
    X, y = data
    keep = y != 1
    model = make_model("Naive Bayes").fit(X[keep], y[keep], classes=[-1, 0, 1], on_missing_class="zero")
    loaded = registry.load(f"nb@{registry.save('nb', model)}")
    proba = loaded.predict_proba(X)
    assert np.array_equal(proba, model.predict_proba(X))
    assert np.all(proba[:, 2] == 0.0)


# --- versions, listing, deleting ------------------------------------------------------------------------------------


def test_versions_increment_and_refs_resolve(registry: ModelRegistry, data: tuple[pd.DataFrame, np.ndarray]) -> None:
    X, y = data
    a = fitted("Decision Tree", X.iloc[:1000], y[:1000], max_depth=2)
    b = fitted("Decision Tree", X.iloc[:1000], y[:1000], max_depth=6)
    assert registry.save("dt", a) == 1
    assert registry.save("dt", b) == 2
    assert registry.save("other", a) == 1
    assert registry.versions("dt") == [1, 2]
    assert registry.names() == ["dt", "other"]
    assert registry.resolve("dt") == ("dt", 2)
    assert registry.resolve("dt@latest") == ("dt", 2)
    assert registry.load("dt").params["max_depth"] == 6
    assert registry.load("dt@1").params["max_depth"] == 2
    assert [(v.name, v.version, v.ref) for v in registry.list()] == [
        ("dt", 1, "dt@1"),
        ("dt", 2, "dt@2"),
        ("other", 1, "other@1"),
    ]
    assert [v.metadata["model"]["params"]["max_depth"] for v in registry.list("dt")] == [2, 6]


def test_delete_one_version_then_all(registry: ModelRegistry, data: tuple[pd.DataFrame, np.ndarray]) -> None:
    X, y = data
    model = fitted("Naive Bayes", X, y)
    for _ in range(3):
        registry.save("nb", model)
    assert registry.delete("nb@2") == [2]
    assert registry.versions("nb") == [1, 3]
    assert registry.save("nb", model) == 4  # numbers are never reused for the latest
    with pytest.raises(ModelNotFoundError, match=r"has no version 2; versions: \[1, 3, 4\]"):
        registry.load("nb@2")
    assert registry.delete("nb") == [1, 3, 4]
    assert registry.names() == []
    assert not (registry.root / "nb").exists()
    with pytest.raises(ModelNotFoundError, match="no model named 'nb'"):
        registry.delete("nb")


def test_unknown_and_malformed_refs(registry: ModelRegistry, data: tuple[pd.DataFrame, np.ndarray]) -> None:
    X, y = data
    with pytest.raises(ModelNotFoundError, match="none \\(save one first\\)"):
        registry.load("missing")
    registry.save("known", fitted("Naive Bayes", X, y))
    with pytest.raises(ModelNotFoundError, match=r"no model named 'missing'.*known models: \['known'\]"):
        registry.load("missing")
    with pytest.raises(ModelNotFoundError, match="has no version 9"):
        registry.metadata("known@9")
    for bad in ("known@x", "known@0", "known@-1"):
        with pytest.raises(ConfigError, match="invalid version"):
            registry.load(bad)
    for bad in ("a/b", "../escape", "", "with space", "123"):
        with pytest.raises(ConfigError, match="invalid model name"):
            registry.resolve(bad)
    with pytest.raises(ConfigError, match="invalid model name"):
        registry.save("no@at", fitted("Naive Bayes", X, y))


def test_registry_root_must_be_a_directory(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(ConfigError, match="is not a directory"):
        ModelRegistry(tmp_path / "file")
    assert ModelRegistry(tmp_path / "new").list() == []


# --- metadata -------------------------------------------------------------------------------------------------------


def test_metadata_records_what_produced_the_model(
    registry: ModelRegistry, data: tuple[pd.DataFrame, np.ndarray]
) -> None:
    X, y = data
    train_X, train_y = X.iloc[:1800], y[:1800]
    model = fitted("Random Forest", train_X, train_y)
    version = registry.save(
        "rf",
        model,
        {
            "symbol": "BTC-PERP",
            "timeframe": "1m",
            "features": {"set": "returns", "inputs": 10},
            "label": {"kind": "fixed-horizon", "horizon": 5, "threshold": 0.001},
            "train_start": train_X.index[0],
            "train_end": train_X.index[-1],
            "metrics": {"accuracy": np.float64(0.61), "sortino": float("nan"), "trades": np.int64(12)},
            "extra": {"note": "unit test"},
        },
        training_data=(train_X, train_y),
    )
    meta = registry.metadata(f"rf@{version}")
    assert meta["name"] == "rf" and meta["version"] == version and meta["schema"] == 1
    assert meta["feature_names"] == [f"ret_{i}" for i in range(10, 0, -1)]
    assert meta["classes"] == [-1, 0, 1]
    assert meta["model"]["name"] == "Random Forest"
    assert meta["model"]["params"] == {"max_depth": 5, "n_estimators": 10, "max_features": 1, "random_state": 0}
    assert meta["label"] == {"kind": "fixed-horizon", "horizon": 5, "threshold": 0.001}
    assert meta["train_start"] == "2021-12-31T23:11:00+00:00"
    assert meta["train_end"] == train_X.index[-1].isoformat()
    assert meta["metrics"] == {"accuracy": 0.61, "sortino": None, "trades": 12}
    assert meta["data_hash"] == data_hash(train_X, train_y)
    assert meta["libraries"] == library_versions()
    assert set(meta["libraries"]) >= {"python", "numpy", "scikit-learn", "lightgbm", "skops"}
    assert meta["artifact"]["bytes"] == (registry.root / "rf" / str(version) / "model.skops").stat().st_size
    assert meta["extra"] == {"note": "unit test"}
    # metadata.json sits beside the model file and is plain JSON
    raw = json.loads((registry.root / "rf" / str(version) / "metadata.json").read_text())
    assert raw == meta


def test_data_hash_is_sha256_of_the_training_arrays(data: tuple[pd.DataFrame, np.ndarray]) -> None:
    X, y = data
    h = data_hash(X, y)
    assert len(h) == 64 and int(h, 16) >= 0
    assert data_hash(X.copy(), y.copy()) == h
    changed = X.copy()
    changed.iloc[100, 2] += 1e-12
    assert data_hash(changed, y) != h
    flipped = y.copy()
    flipped[5] = -flipped[5] if flipped[5] else 1
    assert data_hash(X, flipped) != h
    assert data_hash(X.iloc[1:], y[1:]) != h
    assert data_hash(X.rename(columns={"ret_1": "r1"}), y) != h
    assert data_hash(X.to_numpy(), y) == data_hash(X.to_numpy(), y.astype(float))


def test_metadata_is_validated(registry: ModelRegistry, data: tuple[pd.DataFrame, np.ndarray]) -> None:
    X, y = data
    model = fitted("Naive Bayes", X, y)
    with pytest.raises(ConfigError, match=r"unknown metadata key\(s\) \['train_strat'\]"):
        registry.save("nb", model, {"train_strat": "2022-01-01"})
    with pytest.raises(ConfigError, match=r"metadata value at 'extra\.obj' is a object"):
        registry.save("nb", model, {"extra": {"obj": object()}})
    with pytest.raises(ConfigError, match="differs from the hash of training_data"):
        registry.save("nb", model, {"data_hash": "0" * 64}, training_data=(X, y))
    with pytest.raises(ConfigError, match="not fitted yet"):
        registry.save("nb", make_model("Naive Bayes"))
    with pytest.raises(ConfigError, match=r"expects a tradeforge\.ml\.models\.Model"):
        registry.save("nb", model.pipeline)  # type: ignore[arg-type]
    assert registry.names() == []  # nothing half-saved


# --- safety: hash checks, formats, trusted types --------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["skops", "joblib"])
def test_tampered_model_file_is_refused(
    fmt: str, registry: ModelRegistry, data: tuple[pd.DataFrame, np.ndarray]
) -> None:
    X, y = data
    version = registry.save("m", fitted("Decision Tree", X, y), format=fmt)  # type: ignore[arg-type]
    path = registry.root / "m" / str(version) / f"model.{fmt}"
    assert registry.metadata("m")["artifact"]["format"] == fmt
    assert np.array_equal(registry.load("m").predict(X), fitted("Decision Tree", X, y).predict(X))
    blob = bytearray(path.read_bytes())
    blob[len(blob) // 2] ^= 0xFF
    path.write_bytes(bytes(blob))
    with pytest.raises(DataError, match=r"was modified or corrupted\. Refusing to load it"):
        registry.load("m")
    path.unlink()
    with pytest.raises(DataError, match="cannot be read"):
        registry.load("m")


def test_replaced_model_file_is_refused(registry: ModelRegistry, data: tuple[pd.DataFrame, np.ndarray]) -> None:
    X, y = data
    registry.save("a", fitted("Decision Tree", X, y, max_depth=2), format="joblib")
    registry.save("b", fitted("Decision Tree", X, y, max_depth=7), format="joblib")
    other = (registry.root / "b" / "1" / "model.joblib").read_bytes()
    (registry.root / "a" / "1" / "model.joblib").write_bytes(other)  # a valid pickle, but not the one saved
    with pytest.raises(DataError, match="sha256"):
        registry.load("a@1")


def test_corrupt_metadata_is_a_clear_error(registry: ModelRegistry, data: tuple[pd.DataFrame, np.ndarray]) -> None:
    X, y = data
    registry.save("m", fitted("Naive Bayes", X, y))
    (registry.root / "m" / "1" / "metadata.json").write_text("{not json")
    with pytest.raises(DataError, match=r"metadata of m@1 .* cannot be read"):
        registry.load("m")


def test_types_outside_the_allowlist_fall_back_to_joblib_or_need_explicit_trust(
    registry: ModelRegistry, data: tuple[pd.DataFrame, np.ndarray], monkeypatch: pytest.MonkeyPatch
) -> None:
    X, y = data
    model = fitted("Decision Tree", X, y)
    registry.save("tree", model, format="skops")  # saved while the tree type is trusted
    reduced = registry_module.TRUSTED_TYPES - {"sklearn.tree._tree.Tree"}
    monkeypatch.setattr(registry_module, "TRUSTED_TYPES", reduced)
    with pytest.raises(ConfigError, match=r"types the registry does not trust: \['sklearn.tree._tree.Tree'\]"):
        registry.load("tree@1")
    loaded = registry.load("tree@1", extra_trusted=["sklearn.tree._tree.Tree"])
    assert np.array_equal(loaded.predict_proba(X), model.predict_proba(X))
    # a new save in "auto" mode does not write a file the registry would refuse: it falls back to joblib
    version = registry.save("tree", model)
    artifact = registry.metadata(f"tree@{version}")["artifact"]
    assert artifact["format"] == "joblib"
    assert "sklearn.tree._tree.Tree" in artifact["fallback_reason"]
    assert np.array_equal(registry.load(f"tree@{version}").predict_proba(X), model.predict_proba(X))
    with pytest.raises(ConfigError, match="outside the registry's allowlist"):
        registry.save("tree", model, format="skops")
    with pytest.raises(ConfigError, match="format must be"):
        registry.save("tree", model, format="pickle")  # type: ignore[arg-type]


def test_library_version_drift_warns(registry: ModelRegistry, data: tuple[pd.DataFrame, np.ndarray]) -> None:
    X, y = data
    registry.save("m", fitted("Naive Bayes", X, y))
    meta_path = registry.root / "m" / "1" / "metadata.json"
    meta = json.loads(meta_path.read_text())
    meta["libraries"]["scikit-learn"] = "0.0.1"
    meta_path.write_text(json.dumps(meta))
    with pytest.warns(UserWarning, match=r"scikit-learn 0.0.1 -> "):
        registry.load("m")


# --- atomic publication ---------------------------------------------------------------------------------------------


def test_failed_save_leaves_nothing_behind(
    registry: ModelRegistry, data: tuple[pd.DataFrame, np.ndarray], monkeypatch: pytest.MonkeyPatch
) -> None:
    X, y = data
    model = fitted("Naive Bayes", X, y)
    registry.save("m", model)

    def broken_rename(src: object, dst: object) -> None:
        raise PermissionError("disk says no")

    monkeypatch.setattr(registry_module.os, "rename", broken_rename)
    with pytest.raises(PermissionError):
        registry.save("m", model)
    monkeypatch.undo()
    assert registry.versions("m") == [1]
    assert sorted(p.name for p in (registry.root / "m").iterdir()) == ["1"]  # no staging directory left
    assert sorted(p.name for p in (registry.root / "m" / "1").iterdir()) == ["metadata.json", "model.skops"]


def test_concurrent_saves_get_distinct_versions(tmp_path: Path, data: tuple[pd.DataFrame, np.ndarray]) -> None:
    X, y = data
    model = fitted("Naive Bayes", X, y)
    root = tmp_path / "shared"
    results: list[int] = []
    errors: list[BaseException] = []

    def writer() -> None:
        reg = ModelRegistry(root)  # separate instances, as separate processes would have
        try:
            for _ in range(5):
                results.append(reg.save("race", model))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(results) == list(range(1, 21))
    registry = ModelRegistry(root)
    assert registry.versions("race") == list(range(1, 21))
    assert all(registry.metadata(f"race@{v}")["version"] == v for v in range(1, 21))
    assert not [p for p in (root / "race").iterdir() if p.name.startswith(".")]


def test_atomic_write_replaces_whole_files(tmp_path: Path) -> None:
    target = tmp_path / "f.json"
    target.write_bytes(b"old")
    registry_module._atomic_write(target, b"new content")
    assert target.read_bytes() == b"new content"
    assert os.listdir(tmp_path) == ["f.json"]
