"""find_gaps on real data, checked against a direct numpy computation."""

from __future__ import annotations

import numpy as np
import pytest

from tradeforge.core.bars import BarSeries
from tradeforge.core.clock import NS_PER_DAY, NS_PER_MINUTE, iso
from tradeforge.core.errors import ConfigError
from tradeforge.data import Gap, find_gaps, list_samples, load_sample

FIVE_MIN = 5 * NS_PER_MINUTE


@pytest.mark.parametrize("name", [info.name for info in list_samples("crypto-5m")])
def test_crypto_5m_gaps_match_numpy(name: str) -> None:
    series = load_sample(name)
    steps = np.diff(series.ts)
    holes = np.flatnonzero(steps > FIVE_MIN)
    expected = [(int(series.ts[i]), int(series.ts[i + 1]), int(steps[i] // FIVE_MIN - 1)) for i in holes]
    gaps = find_gaps(series)
    assert [(g.start_ts, g.end_ts, g.missing_bars) for g in gaps] == expected
    # bars present + bars missing fill the whole 5-minute grid from first to last bar
    grid = (int(series.ts[-1]) - int(series.ts[0])) // FIVE_MIN + 1
    assert len(series) + sum(g.missing_bars for g in gaps) == grid


def test_ada_btc_real_gaps() -> None:
    gaps = find_gaps(load_sample("ADA-BTC"))
    assert [(iso(g.start_ts), iso(g.end_ts), g.missing_bars) for g in gaps] == [
        ("2018-01-15T10:05:00Z", "2018-01-15T10:15:00Z", 1),
        ("2018-01-15T10:25:00Z", "2018-01-15T10:35:00Z", 1),
        ("2018-01-15T11:05:00Z", "2018-01-15T11:30:00Z", 4),
        ("2018-01-15T11:40:00Z", "2018-01-15T11:50:00Z", 1),
        ("2018-01-15T11:55:00Z", "2018-01-15T14:45:00Z", 33),
    ]
    assert sum(g.missing_bars for g in gaps) == 5760 - 5720
    assert gaps[-1].duration_ns == 34 * FIVE_MIN
    assert str(gaps[0]) == "1 bar(s) missing between 2018-01-15T10:05:00Z and 2018-01-15T10:15:00Z"


def test_complete_pairs_have_no_gaps() -> None:
    for name in ("ETH-BTC", "LTC-BTC", "NXT-BTC", "XLM-BTC", "ETC-BTC"):
        assert find_gaps(load_sample(name)) == []
    assert [g.missing_bars for g in find_gaps(load_sample("TRX-BTC"))] == [1] * 6


def test_min_missing_filters_weekends_and_the_futures_maintenance_hour() -> None:
    goog = load_sample("GOOG")
    weekends = [g for g in find_gaps(goog) if g.missing_bars == 2]
    assert len(weekends) == 386 == np.count_nonzero(np.diff(goog.ts) == 3 * NS_PER_DAY)
    assert all(g.missing_bars >= 3 for g in find_gaps(goog, min_missing=3))
    future = find_gaps(load_sample("6EH4"), min_missing=60)
    assert len(future) == 22
    assert {g.missing_bars for g in future} == {60, 2940}  # daily 22:00-23:00 UTC break, weekends
    assert iso(future[0].start_ts) == "2024-01-02T22:00:00Z"


def test_monthly_series_has_no_gaps() -> None:
    assert find_gaps(load_sample("BTCUSD")) == []


def test_off_grid_step_shorter_than_two_bars_is_not_a_gap() -> None:
    ts = np.array([0, NS_PER_DAY, NS_PER_DAY * 5 // 2, 5 * NS_PER_DAY], dtype=np.int64)
    series = BarSeries.from_arrays("X", NS_PER_DAY, ts, [1] * 4, [1] * 4, [1] * 4, [1] * 4)
    assert find_gaps(series) == [Gap(NS_PER_DAY * 5 // 2, 5 * NS_PER_DAY, 1)]


def test_min_missing_must_be_positive() -> None:
    with pytest.raises(ConfigError, match="min_missing must be at least 1"):
        find_gaps(load_sample("KO"), min_missing=0)
