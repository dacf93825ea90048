"""Time frame labels and inference from timestamps."""

from __future__ import annotations

import numpy as np
import pytest

from tradeforge.core.clock import NS_PER_DAY, NS_PER_HOUR, NS_PER_MINUTE, NS_PER_SECOND
from tradeforge.core.errors import ConfigError
from tradeforge.data import MONTH_NS, infer_timeframe, load_sample, timeframe_ns


@pytest.mark.parametrize(
    ("name", "label"),
    [
        ("ETH-BTC", "5m"),
        ("ADA-BTC", "5m"),
        ("BTC-PERP", "1m"),
        ("6EH4", "1m"),
        ("EURUSD", "1h"),
        ("GOOG", "1d"),
    ],
)
def test_inference_on_real_samples(name: str, label: str) -> None:
    assert infer_timeframe(load_sample(name).ts) == label


def test_monthly_bars_are_labelled_1mo() -> None:
    assert infer_timeframe(load_sample("BTCUSD").ts) == "1mo"
    assert timeframe_ns("1mo") == MONTH_NS == 30 * NS_PER_DAY
    assert timeframe_ns("3mo") == 90 * NS_PER_DAY


def test_most_common_step_wins_over_gaps() -> None:
    ts = np.cumsum([0, 300, 300, 3600, 300, 900, 300]) * NS_PER_SECOND
    assert infer_timeframe(ts) == "5m"
    assert infer_timeframe(np.array([0, 90, 180, 270]) * NS_PER_SECOND) == "90s"
    assert infer_timeframe(np.array([0, 1, 1, 2]) * NS_PER_HOUR) == "1h"  # duplicates ignored here
    assert infer_timeframe(np.array([0, 4, 6, 10, 12]) * NS_PER_HOUR) == "2h"  # tie: smaller step


def test_inference_needs_two_distinct_timestamps() -> None:
    with pytest.raises(ConfigError, match=r"file\.csv: cannot infer the time frame from 2 bar"):
        infer_timeframe(np.array([5, 5]), source="file.csv")
    with pytest.raises(ConfigError, match="not a whole number of seconds"):
        infer_timeframe(np.array([0, 1, 2]))


def test_timeframe_ns_labels_and_numbers() -> None:
    assert timeframe_ns("5m") == 5 * NS_PER_MINUTE
    assert timeframe_ns("1d") == NS_PER_DAY
    assert timeframe_ns(NS_PER_HOUR) == NS_PER_HOUR
    for bad in ("0mo", "5 parsecs", 0, -1, True, 1.5):
        with pytest.raises(ConfigError):
            timeframe_ns(bad)  # type: ignore[arg-type]
