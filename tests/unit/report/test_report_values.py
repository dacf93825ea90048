from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from tradeforge.report.downsample import minmax_indices, thin
from tradeforge.report.formatting import format_float, format_value
from tradeforge.report.jsonify import to_json_value


@pytest.mark.parametrize(
    ("value", "text"),
    [(12.3456789, "12.34568"), (3.0, "3.0"), (-0.000001, "0.0"), (math.nan, "NaN"), (1e6, "1000000.0")],
)
def test_format_float(value: float, text: str) -> None:
    assert format_float(value) == text


def test_format_value() -> None:
    assert format_value(7) == "7"
    assert format_value(np.int64(7)) == "7"
    assert format_value(pd.Timedelta(hours=5)) == "0 days 05:00:00"
    assert format_value(pd.Timestamp("2024-01-01", tz="UTC")) == "2024-01-01 00:00:00+00:00"
    assert format_value(pd.NaT) == ""


def test_to_json_value() -> None:
    value = {
        "nan": math.nan,
        "inf": np.float64("inf"),
        "ts": pd.Timestamp("2024-03-01 12:30", tz="Europe/Paris"),
        "naive": pd.Timestamp("2024-03-01"),
        "td": pd.Timedelta(days=2),
        "nat": pd.NaT,
        "arr": np.array([1.0, np.nan]),
        "np": np.int32(3),
        "nested": {"x": (1, 2)},
        "obj": object,
    }
    out = to_json_value(value)
    json.dumps(out, allow_nan=False)
    assert out["nan"] is None and out["inf"] is None and out["nat"] is None
    assert out["ts"] == "2024-03-01T11:30:00Z"
    assert out["naive"] == "2024-03-01T00:00:00Z"
    assert out["td"] == "2 days 00:00:00"
    assert out["arr"] == [1.0, None]
    assert out["np"] == 3 and out["nested"] == {"x": [1, 2]}
    assert out["obj"] == "<class 'object'>"


def test_minmax_indices_keep_extremes() -> None:
    y = np.zeros(10_000)
    y[1234], y[8765] = 50.0, -50.0
    keep = minmax_indices(y, 100)
    assert len(keep) <= 100
    assert {0, 1234, 8765, 9_999} <= set(keep.tolist())
    assert np.all(np.diff(keep) > 0)


def test_thin_leaves_short_series_alone() -> None:
    x = np.arange(10.0)
    assert thin(x, x, 100)[2] is False
    _, y, thinned = thin(np.arange(300_000.0), np.arange(300_000.0))
    assert thinned and len(y) <= 100_000
