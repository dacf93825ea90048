"""The live inference API: a real uvicorn server on 127.0.0.1 answering real HTTP requests, plus TestClient checks
of every validation path. The model is trained on real BTC-PERP 1m bars."""

from __future__ import annotations

import math
import socket
import threading
import time
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
import uvicorn
from fastapi import FastAPI
from starlette.exceptions import StarletteDeprecationWarning

from tradeforge.core.errors import DataError
from tradeforge.data import load_sample_frame
from tradeforge.ml.models import Model, make_model
from tradeforge.ml.registry import ModelRegistry
from tradeforge.ml.serve import create_app

with warnings.catch_warnings():
    # starlette deprecates driving its TestClient with httpx in favour of httpx2, which we do not depend on
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient

INPUTS = 10
HORIZON = 5
TRAIN_ROWS = 3000


def returns_features(bars: pd.DataFrame, metadata: Mapping[str, Any]) -> pd.DataFrame:
    """The feature builder the server uses: the last N log returns (N from the model's metadata), newest ret_1."""
    inputs = int(metadata["features"]["inputs"])
    r = np.log(bars["close"]).diff()
    return pd.DataFrame({f"ret_{k}": r.shift(k - 1) for k in range(inputs, 0, -1)}, index=bars.index)


@pytest.fixture(scope="module")
def bars() -> pd.DataFrame:
    return load_sample_frame("BTC-PERP").iloc[: TRAIN_ROWS + 600]


@pytest.fixture(scope="module")
def features(bars: pd.DataFrame) -> pd.DataFrame:
    return returns_features(bars, {"features": {"inputs": INPUTS}})


@pytest.fixture(scope="module")
def trained(bars: pd.DataFrame, features: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    close = bars["close"]
    future = np.log(close.shift(-HORIZON) / close)
    labels = pd.Series(np.where(future > 0.001, 1, np.where(future < -0.001, -1, 0)), index=bars.index)
    X = features.iloc[INPUTS:TRAIN_ROWS]
    y = labels.iloc[INPUTS:TRAIN_ROWS].to_numpy()
    registry = ModelRegistry(tmp_path_factory.mktemp("serve") / "models")
    meta = {
        "symbol": "BTC-PERP",
        "timeframe": "1m",
        "features": {"set": "returns", "inputs": INPUTS},
        "label": {"horizon": HORIZON, "threshold": 0.001},
        "train_start": X.index[0],
        "train_end": X.index[-1],
    }
    forest = make_model("Random Forest", n_estimators=25).fit(X, y, classes=[-1, 0, 1])
    registry.save("btc-rf", forest, meta, training_data=(X, y))
    svm = make_model("Linear SVM", calibrate=False).fit(X, y)
    registry.save("btc-svm", svm, meta)
    return {"registry": registry, "forest": forest, "svm": svm}


@pytest.fixture(scope="module")
def app(trained: dict[str, Any]) -> FastAPI:
    return create_app(trained["registry"], feature_builder=returns_features)


@pytest.fixture(scope="module")
def live_url(app: FastAPI) -> Iterator[str]:
    """uvicorn serving the app on a free loopback port, in a thread; stopped at the end of the module."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start within 15 s")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        sock.close()


@pytest.fixture(scope="module")
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as c:
        yield c


def rows(frame: pd.DataFrame) -> list[dict[str, float]]:
    return [{str(k): float(v) for k, v in row.items()} for _, row in frame.iterrows()]


def bar_payload(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [
        {"timestamp": ts.isoformat(), "open": float(b.open), "high": float(b.high), "low": float(b.low),
         "close": float(b.close), "volume": float(b.volume)}
        for ts, b in frame.iterrows()
    ]  # fmt: skip


def error_text(response: httpx.Response) -> str:
    detail = response.json()["detail"]
    return detail if isinstance(detail, str) else " | ".join(f"{e['loc']}: {e['msg']}" for e in detail)


# --- a real HTTP server -------------------------------------------------------------------------------------------


def test_live_server_predicts_what_the_model_predicts(
    live_url: str, trained: dict[str, Any], features: pd.DataFrame
) -> None:
    forest: Model = trained["forest"]
    sample = features.iloc[TRAIN_ROWS : TRAIN_ROWS + 5]
    with httpx.Client(base_url=live_url, timeout=30) as http:
        assert http.get("/health").json() == {"status": "ok", "models": 2}
        response = http.post("/predict", json={"model": "btc-rf@1", "features": rows(sample)})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["model"] == "btc-rf" and body["version"] == 1
    assert body["feature_names"] == [f"ret_{k}" for k in range(INPUTS, 0, -1)]
    assert body["classes"] == [-1, 0, 1]
    expected_class = forest.predict(sample)
    expected_proba = forest.predict_proba(sample)
    assert [p["class"] for p in body["predictions"]] == expected_class.tolist()
    for i, prediction in enumerate(body["predictions"]):
        assert prediction["probabilities"] == {
            str(c): float(p) for c, p in zip([-1, 0, 1], expected_proba[i], strict=True)
        }


def test_live_server_predicts_the_last_bar_from_raw_bars(
    live_url: str, trained: dict[str, Any], bars: pd.DataFrame, features: pd.DataFrame
) -> None:
    forest: Model = trained["forest"]
    with httpx.Client(base_url=live_url, timeout=30) as http:
        for end in (TRAIN_ROWS + 17, TRAIN_ROWS + 400):
            recent = bars.iloc[end - 30 : end]
            response = http.post("/predict", json={"model": "btc-rf", "bars": bar_payload(recent)})
            assert response.status_code == 200, response.text
            body = response.json()
            # the features the server built from 30 bars equal the ones computed on the whole history
            full_row = features.loc[[recent.index[-1]]]
            assert body["timestamp"] == recent.index[-1].isoformat()
            assert [p["class"] for p in body["predictions"]] == forest.predict(full_row).tolist()
            proba = forest.predict_proba(full_row)[0]
            assert body["predictions"][0]["probabilities"] == {"-1": proba[0], "0": proba[1], "1": proba[2]}


def test_live_server_rejects_malformed_requests_and_unknown_models(live_url: str, features: pd.DataFrame) -> None:
    good = rows(features.iloc[TRAIN_ROWS : TRAIN_ROWS + 1])
    with httpx.Client(base_url=live_url, timeout=30) as http:
        wrong_type = http.post("/predict", json={"model": "btc-rf", "features": [{**good[0], "ret_3": "high"}]})
        missing = http.post("/predict", json={"features": good})
        unknown = http.post("/predict", json={"model": "no-such-model", "features": good})
        not_json = http.post("/predict", content=b"{oops", headers={"content-type": "application/json"})
    assert wrong_type.status_code == 422
    assert "['body', 'features', '0', 'ret_3']: Input should be a valid number" in error_text(wrong_type)
    assert missing.status_code == 422
    assert "['body', 'model']: Field required" in error_text(missing)
    assert unknown.status_code == 404
    assert "no model named 'no-such-model'" in error_text(unknown) and "btc-rf" in error_text(unknown)
    assert not_json.status_code == 422 and "JSON decode error" in error_text(not_json)


def test_live_server_lists_models(live_url: str) -> None:
    with httpx.Client(base_url=live_url, timeout=30) as http:
        body = http.get("/models").json()
    by_name = {m["name"]: m for m in body["models"]}
    assert sorted(by_name) == ["btc-rf", "btc-svm"]
    rf = by_name["btc-rf"]
    assert rf["versions"] == [1] and rf["latest"] == 1
    assert rf["summary"]["model"] == "Random Forest"
    assert rf["summary"]["params"]["n_estimators"] == 25
    assert rf["summary"]["symbol"] == "BTC-PERP"
    assert rf["summary"]["train_start"] == "2021-12-31T23:11:00+00:00"
    assert rf["summary"]["feature_names"][-1] == "ret_1"


# --- details through the TestClient -------------------------------------------------------------------------------


def test_non_finite_and_non_numeric_values_are_422(client: TestClient, features: pd.DataFrame) -> None:
    row = rows(features.iloc[TRAIN_ROWS : TRAIN_ROWS + 1])[0]
    for literal in ("NaN", "Infinity", "-Infinity"):
        body = '{"model": "btc-rf", "features": [{"ret_1": ' + literal + "}]}"
        response = client.post("/predict", content=body, headers={"content-type": "application/json"})
        assert response.status_code == 422, literal
        assert "['body', 'features', '0', 'ret_1']: Input should be a finite number" in error_text(response)
        assert response.json()["detail"][0]["input"] in ("nan", "inf", "-inf")
    for value in (True, "0.1", None, [0.1]):
        response = client.post("/predict", json={"model": "btc-rf", "features": [{**row, "ret_2": value}]})
        assert response.status_code == 422, value
        assert "'ret_2']: Input should be a valid number" in error_text(response)
    integers = client.post("/predict", json={"model": "btc-rf", "features": [{k: 0 for k in row}]})
    assert integers.status_code == 200  # JSON integers are numbers too


def test_feature_names_are_checked_against_the_model(client: TestClient, features: pd.DataFrame) -> None:
    row = rows(features.iloc[TRAIN_ROWS : TRAIN_ROWS + 1])[0]
    extra = client.post("/predict", json={"model": "btc-rf", "features": [row, {**row, "rsi_14": 50.0}]})
    assert extra.status_code == 422
    assert error_text(extra).startswith("features row 1: unknown feature(s) ['rsi_14']. Model btc-rf@1 expects")
    partial = {k: v for k, v in row.items() if k != "ret_4"}
    missing = client.post("/predict", json={"model": "btc-rf", "features": [partial]})
    assert missing.status_code == 422 and "features row 0: missing feature(s) ['ret_4']" in error_text(missing)


def test_request_shape_errors(client: TestClient, features: pd.DataFrame, bars: pd.DataFrame) -> None:
    row = rows(features.iloc[TRAIN_ROWS : TRAIN_ROWS + 1])
    cases = {
        "empty rows": ({"model": "btc-rf", "features": []}, "List should have at least 1 item"),
        "empty row": ({"model": "btc-rf", "features": [{}]}, "feature rows [0] are empty"),
        "neither": ({"model": "btc-rf"}, "send exactly one of 'features'"),
        "both": ({"model": "btc-rf", "features": row, "bars": bar_payload(bars.iloc[:20])}, "exactly one of"),
        "extra field": ({"model": "btc-rf", "features": row, "threshold": 0.6}, "Extra inputs are not permitted"),
        "bad ref": ({"model": "btc rf!", "features": row}, "String should match pattern"),
        "bad version": ({"model": "btc-rf@v2", "features": row}, "String should match pattern"),
        "rows not a list": ({"model": "btc-rf", "features": row[0]}, "Input should be a valid list"),
    }
    for case, (payload, message) in cases.items():
        response = client.post("/predict", json=payload)
        assert response.status_code == 422, case
        assert message in error_text(response), (case, error_text(response))
    too_many = client.post("/predict", json={"model": "btc-rf", "features": row * 10_001})
    assert too_many.status_code == 422 and "at most 10000 items" in error_text(too_many)


def test_unknown_versions_are_404(client: TestClient, features: pd.DataFrame) -> None:
    row = rows(features.iloc[TRAIN_ROWS : TRAIN_ROWS + 1])
    response = client.post("/predict", json={"model": "btc-rf@9", "features": row})
    assert response.status_code == 404
    assert error_text(response) == "model 'btc-rf' has no version 9; versions: [1] (use 'btc-rf' for latest)"
    assert client.get("/models/btc-rf@9").status_code == 404
    assert client.get("/models/nope").status_code == 404
    meta = client.get("/models/btc-rf").json()
    assert meta["version"] == 1 and meta["artifact"]["format"] == "skops"


def test_bad_bars_are_rejected(client: TestClient, bars: pd.DataFrame) -> None:
    recent = bar_payload(bars.iloc[TRAIN_ROWS - 30 : TRAIN_ROWS])
    inverted = [dict(b) for b in recent]
    inverted[4]["low"] = inverted[4]["high"] + 10
    response = client.post("/predict", json={"model": "btc-rf", "bars": inverted})
    assert response.status_code == 422 and "is inconsistent: need low <= open, close <= high" in error_text(response)
    unordered = [recent[1], recent[0], *recent[2:]]
    response = client.post("/predict", json={"model": "btc-rf", "bars": unordered})
    assert (
        response.status_code == 422
        and "bar 1 " in error_text(response)
        and "strictly increasing" in error_text(response)
    )
    negative = [dict(b) for b in recent]
    negative[0]["close"] = -1.0
    response = client.post("/predict", json={"model": "btc-rf", "bars": negative})
    assert response.status_code == 422 and "Input should be greater than 0" in error_text(response)
    no_time = [{k: v for k, v in b.items() if k != "timestamp"} for b in recent]
    response = client.post("/predict", json={"model": "btc-rf", "bars": no_time})
    assert response.status_code == 422 and "timestamp']: Field required" in error_text(response)
    few = client.post("/predict", json={"model": "btc-rf", "bars": recent[:INPUTS]})
    assert few.status_code == 400
    assert "10 bars are not enough to compute feature(s) ['ret_10'] for the last bar" in error_text(few)
    enough = client.post("/predict", json={"model": "btc-rf", "bars": recent[-(INPUTS + 1) :]})
    assert enough.status_code == 200


def test_naive_timestamps_are_utc(client: TestClient, bars: pd.DataFrame) -> None:
    recent = bar_payload(bars.iloc[TRAIN_ROWS - 20 : TRAIN_ROWS])
    naive = [{**b, "timestamp": b["timestamp"].replace("+00:00", "")} for b in recent]
    a = client.post("/predict", json={"model": "btc-rf", "bars": recent}).json()
    b = client.post("/predict", json={"model": "btc-rf", "bars": naive}).json()
    assert a == b and a["timestamp"] == bars.index[TRAIN_ROWS - 1].isoformat()


def test_bars_need_a_feature_builder(trained: dict[str, Any], bars: pd.DataFrame) -> None:
    with TestClient(create_app(trained["registry"])) as plain:
        response = plain.post("/predict", json={"model": "btc-rf", "bars": bar_payload(bars.iloc[:20])})
    assert response.status_code == 400 and "send 'features'" in error_text(response)


def test_feature_builder_errors_are_400(trained: dict[str, Any], bars: pd.DataFrame) -> None:
    def strict_builder(frame: pd.DataFrame, metadata: Mapping[str, Any]) -> pd.DataFrame:
        raise DataError(f"feature window of 100 bars is longer than the {len(frame)} bars given")

    with TestClient(create_app(trained["registry"], feature_builder=strict_builder)) as c:
        response = c.post("/predict", json={"model": "btc-rf", "bars": bar_payload(bars.iloc[:20])})
    assert response.status_code == 400
    assert error_text(response) == (
        "cannot compute features from the bars sent: feature window of 100 bars is longer than the 20 bars given"
    )


def test_uncalibrated_model_returns_class_without_probabilities(
    client: TestClient, trained: dict[str, Any], features: pd.DataFrame
) -> None:
    sample = features.iloc[TRAIN_ROWS : TRAIN_ROWS + 3]
    body = client.post("/predict", json={"model": "btc-svm", "features": rows(sample)}).json()
    assert [p["class"] for p in body["predictions"]] == trained["svm"].predict(sample).tolist()
    assert all(p["probabilities"] is None for p in body["predictions"])


def test_latest_follows_new_versions(tmp_path: Path, trained: dict[str, Any], features: pd.DataFrame) -> None:
    registry = ModelRegistry(tmp_path / "reg")
    X = features.iloc[INPUTS:TRAIN_ROWS]
    y = trained["forest"].predict(X)  # any labels will do: what matters is which version answers
    registry.save("m", make_model("Decision Tree", max_depth=1).fit(X, y))
    sample = rows(features.iloc[TRAIN_ROWS : TRAIN_ROWS + 1])
    with TestClient(create_app(registry, cache_size=1)) as c:
        assert c.post("/predict", json={"model": "m", "features": sample}).json()["version"] == 1
        registry.save("m", make_model("Decision Tree", max_depth=3).fit(X, y))
        assert c.post("/predict", json={"model": "m", "features": sample}).json()["version"] == 2
        assert c.post("/predict", json={"model": "m@1", "features": sample}).json()["version"] == 1
        registry.delete("m@2")
        assert c.post("/predict", json={"model": "m", "features": sample}).json()["version"] == 1
        assert c.get("/health").json() == {"status": "ok", "models": 1}


def test_probabilities_sum_to_one(client: TestClient, features: pd.DataFrame) -> None:
    body = client.post(
        "/predict", json={"model": "btc-rf", "features": rows(features.iloc[TRAIN_ROWS : TRAIN_ROWS + 50])}
    ).json()
    assert len(body["predictions"]) == 50
    for p in body["predictions"]:
        assert math.isclose(sum(p["probabilities"].values()), 1.0, abs_tol=1e-12)
        assert p["class"] == int(max(p["probabilities"], key=lambda k: p["probabilities"][k]))
