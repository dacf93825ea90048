"""BarStore: round trips, incremental appends (property-tested), conflicts, ranges, crash safety, errors."""

from __future__ import annotations

import itertools
import os
import random
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tradeforge.core.bars import COLUMNS, BarSeries
from tradeforge.core.clock import NS_PER_HOUR, NS_PER_MINUTE
from tradeforge.core.errors import ConfigError, DataError
from tradeforge.data import list_samples, load_sample
from tradeforge.data.store import BarStore, decode_name, encode_name

T0 = 1_704_067_200_000_000_000  # 2024-01-01T00:00:00Z


def same(a: BarSeries, b: BarSeries) -> bool:
    return (
        a.symbol == b.symbol
        and a.timeframe == b.timeframe
        and all(getattr(a, c).tobytes() == getattr(b, c).tobytes() for c in ("ts", *COLUMNS))
    )


def bars(n: int, symbol: str = "BTC/USDT", seed: int = 3, tf: int = NS_PER_MINUTE, start: int = T0) -> BarSeries:
    rng = np.random.default_rng(seed)
    low = 100 + rng.random(n) * 10
    high = low + rng.random(n)
    open_ = low + (high - low) * rng.random(n)
    close = low + (high - low) * rng.random(n)
    ts = start + np.arange(n, dtype=np.int64) * tf
    return BarSeries.from_arrays(symbol, tf, ts, open_, high, low, close, rng.random(n) * 1e3)


def visible_files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


@pytest.mark.parametrize("name", [s.name for s in list_samples()])
def test_every_bundled_sample_round_trips_bit_exact(tmp_path: Path, name: str) -> None:
    series = load_sample(name)
    store = BarStore(tmp_path)
    store.write("samples", series)
    back = store.read("samples", series.symbol, series.timeframe)
    assert same(back, series)
    assert store.last_ts("samples", series.symbol, series.timeframe) == int(series.ts[-1])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    n=st.integers(1, 120),
    cuts=st.lists(st.integers(0, 120), max_size=6),
    overlaps=st.lists(st.integers(0, 15), min_size=7, max_size=7),
    order=st.randoms(use_true_random=False),
    max_chunks=st.integers(0, 4),
)
def test_appending_in_chunks_equals_writing_at_once(
    n: int, cuts: list[int], overlaps: list[int], order: random.Random, max_chunks: int
) -> None:
    full = bars(n, seed=n)
    points = sorted({0, n, *(c for c in cuts if c <= n)})
    pieces = []
    for k, (lo, hi) in enumerate(itertools.pairwise(points)):
        pieces.append(full.slice(max(0, lo - overlaps[k]), hi))  # overlaps re-append identical stored bars
    order.shuffle(pieces)  # backfill: older pieces may come later
    with tempfile.TemporaryDirectory() as tmp:
        store = BarStore(tmp, max_chunks=max_chunks)
        for piece in pieces:
            store.append("ex", piece)
        for piece in pieces[:2]:
            assert store.append("ex", piece) == 0  # everything again: all no-ops
        back = store.read("ex", full.symbol, "1m")
        assert same(back, full)
        (entry,) = store.list()
        assert (entry.first, entry.last, entry.count) == (int(full.ts[0]), int(full.ts[-1]), n)


def test_append_writes_small_chunks_and_compacts_after_max_chunks(tmp_path: Path) -> None:
    full = bars(100)
    store = BarStore(tmp_path, max_chunks=2)
    store.write("ex", full.slice(0, 70))
    assert store.append("ex", full.slice(60, 80)) == 10
    assert store.append("ex", full.slice(80, 90)) == 10
    names = visible_files(tmp_path)
    assert names == [
        "ex/BTC%2FUSDT/1m.g000001.c000001.parquet",
        "ex/BTC%2FUSDT/1m.g000001.c000002.parquet",
        "ex/BTC%2FUSDT/1m.g000001.parquet",
    ]
    assert store.append("ex", full.slice(90, 100)) == 10  # third chunk > max_chunks: compacted
    assert visible_files(tmp_path) == ["ex/BTC%2FUSDT/1m.g000002.parquet"]
    assert same(store.read("ex", "BTC/USDT", "1m"), full)


def test_conflicting_bar_raises_naming_time_and_both_values(tmp_path: Path) -> None:
    store = BarStore(tmp_path)
    full = bars(10)
    store.write("ex", full)
    changed_close = full.close.copy()
    changed_close[9] = full.low[9]
    new = BarSeries.from_arrays(
        full.symbol, full.timeframe, full.ts[8:], full.open[8:], full.high[8:], full.low[8:], changed_close[8:],
        full.volume[8:],
    )  # fmt: skip
    with pytest.raises(DataError) as info:
        store.append("ex", new)
    text = str(info.value)
    assert "2024-01-01T00:09:00Z" in text
    assert f"stored open={float(full.open[9])!r}" in text
    assert f"close={float(full.close[9])!r}" in text and f"close={float(full.low[9])!r}" in text
    assert "on_conflict='replace'" in text
    assert same(store.read("ex", full.symbol, "1m"), full)  # nothing written


def test_replace_mode_replaces_the_open_bar(tmp_path: Path) -> None:
    store = BarStore(tmp_path)
    full = bars(10)
    store.write("ex", full.slice(0, 9))
    stale = full.slice(9, 10)
    refreshed = BarSeries.from_arrays(full.symbol, full.timeframe, stale.ts, [101.0], [111.0], [100.0], [110.0], [5.0])
    store.append("ex", stale)
    assert store.append("ex", refreshed, on_conflict="replace") == 1
    back = store.read("ex", full.symbol, "1m")
    assert len(back) == 10
    assert back.close[-1] == 110.0 and back.volume[-1] == 5.0
    assert same(back.slice(0, 9), full.slice(0, 9))
    assert store.list()[0].count == 10
    store.compact("ex", full.symbol, "1m")
    assert same(store.read("ex", full.symbol, "1m"), back)


def test_range_reads_equal_slicing(tmp_path: Path) -> None:
    store = BarStore(tmp_path)
    full = bars(500, tf=NS_PER_HOUR)
    store.write("ex", full.slice(0, 300))
    store.append("ex", full.slice(300, 500))  # range reads across base and chunk
    for lo, hi in [(0, 500), (10, 20), (250, 350), (499, 500), (0, 1)]:
        got = store.read("ex", full.symbol, "1h", start=int(full.ts[lo]), end=int(full.ts[hi - 1]) + 1)
        assert same(got, full.slice(lo, hi))
    assert same(store.read("ex", full.symbol, "1h", start="2024-01-02T00:00"), full.slice(24, 500))
    assert same(store.read("ex", full.symbol, "1h", end=int(full.ts[5])), full.slice(0, 5))
    with pytest.raises(ConfigError, match="no BTC/USDT 1h bars"):
        store.read("ex", full.symbol, "1h", start=int(full.ts[-1]) + 1)


def test_failed_write_keeps_old_contents_and_leaves_no_temp_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = BarStore(tmp_path)
    old = bars(50)
    store.write("ex", old)
    before = visible_files(tmp_path)

    def crash(*_: object) -> None:
        raise OSError("disk full (simulated)")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="simulated"):
        store.write("ex", bars(80, seed=9))
    with pytest.raises(OSError, match="simulated"):
        store.append("ex", bars(10, start=int(old.ts[-1]) + NS_PER_MINUTE))
    monkeypatch.undo()
    assert visible_files(tmp_path) == before
    assert same(store.read("ex", old.symbol, "1m"), old)
    assert [(e.count, e.last) for e in store.list()] == [(50, int(old.ts[-1]))]


def test_crash_after_new_generation_before_cleanup_reads_new_state(tmp_path: Path) -> None:
    store = BarStore(tmp_path, max_chunks=0)
    full = bars(30)
    store.write("ex", full.slice(0, 20))
    folder = tmp_path / "ex" / encode_name(full.symbol)
    keep = {p.name: p.read_bytes() for p in folder.iterdir()}
    store.append("ex", full.slice(20, 30))  # chunk, then compaction into generation 2
    for name, data in keep.items():  # as if the process died before deleting generation 1
        (folder / name).write_bytes(data)
    (folder / ".1m.g000003.parquet.dead.tmp").write_bytes(b"half a file")  # and a crashed later write
    assert same(store.read("ex", full.symbol, "1m"), full)
    assert [e.count for e in store.list()] == [30]
    store.write("ex", full)
    assert sorted(p.name for p in folder.iterdir()) == ["1m.g000003.parquet"]


def test_list_delete_last_ts_exists(tmp_path: Path) -> None:
    store = BarStore(tmp_path)
    assert store.list() == []
    assert store.last_ts("ex", "A", "1m") is None
    a1m, a1h, b = bars(5, "A"), bars(4, "A", tf=NS_PER_HOUR), bars(3, "B")
    for s in (a1m, a1h, b):
        store.write("ex", s)
    got = [(e.source, e.symbol, e.timeframe, e.first, e.last, e.count) for e in store.list()]
    assert got == [
        ("ex", "A", "1m", T0, T0 + 4 * NS_PER_MINUTE, 5),
        ("ex", "A", "1h", T0, T0 + 3 * NS_PER_HOUR, 4),
        ("ex", "B", "1m", T0, T0 + 2 * NS_PER_MINUTE, 3),
    ]
    assert store.list()[0].path.is_file()
    assert store.last_ts("ex", "A", "1h") == T0 + 3 * NS_PER_HOUR
    assert store.exists("ex", "A") and store.exists("ex", "A", "1h") and not store.exists("ex", "A", "5m")
    store.delete("ex", "A", "1h")
    assert not store.exists("ex", "A", "1h") and store.exists("ex", "A", "1m")
    store.delete("ex", "A")
    assert not store.exists("ex", "A")
    assert [e.symbol for e in store.list()] == ["B"]
    with pytest.raises(ConfigError, match=r"nothing stored for ex/A .*stored: ex/B/1m"):
        store.delete("ex", "A")
    with pytest.raises(ConfigError, match="stored time frames: 1m"):
        store.read("ex", "B", "1h")


def test_empty_append_is_a_noop(tmp_path: Path) -> None:
    store = BarStore(tmp_path)
    empty = BarSeries.from_arrays("A", NS_PER_MINUTE, [], [], [], [], [], [], validate=False)
    assert store.append("ex", empty) == 0
    assert store.list() == []


@pytest.mark.parametrize("symbol", ["BTC/USDT", "BTC_USDT", "BTC/USDT:USDT", "ES 03-25", "..", "%2F", "ÄÖ/€"])
def test_unsafe_symbols_round_trip(tmp_path: Path, symbol: str) -> None:
    assert decode_name(encode_name(symbol)) == symbol
    assert "/" not in encode_name(symbol) and ":" not in encode_name(symbol)
    store = BarStore(tmp_path)
    store.write("binance", bars(5, symbol))
    store.write("binance", bars(6, "BTC_USDT" if symbol != "BTC_USDT" else "BTC/USDT"))
    assert same(store.read("binance", symbol, "1m"), bars(5, symbol))
    assert symbol in [e.symbol for e in store.list()]


def test_truncated_file_gives_data_error_naming_the_file(tmp_path: Path) -> None:
    store = BarStore(tmp_path)
    path = store.write("ex", bars(1000))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match=rf"{path}.*damaged"):
        store.read("ex", "BTC/USDT", "1m")
    with pytest.raises(DataError, match=str(path)):
        store.list()


def test_invalid_stored_bars_are_reported_with_file_row_and_rule(tmp_path: Path) -> None:
    store = BarStore(tmp_path)
    good = bars(10)
    high = good.high.copy()
    high[4] = good.low[4] - 1.0
    bad = BarSeries(good.symbol, good.timeframe, good.ts, good.open, high, good.low, good.close, good.volume)
    folder = tmp_path / "ex" / "BTC%2FUSDT"
    folder.mkdir(parents=True)
    # bypass write()'s validation, as a foreign tool writing into the folder would
    store._write_file(folder / "1m.g000001.parquet", "ex", bad, first=T0, last=T0, count=10)
    with pytest.raises(DataError, match=r"1m\.g000001\.parquet.*high .* < low .* at row 4.*BarStore\.write"):
        store.read("ex", good.symbol, "1m")


def test_bad_arguments(tmp_path: Path) -> None:
    store = BarStore(tmp_path)
    store.write("ex", bars(5))
    with pytest.raises(ConfigError, match="on_conflict"):
        store.append("ex", bars(5), on_conflict="keep")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="time frame"):
        store.read("ex", "BTC/USDT", "1x")
    with pytest.raises(ConfigError, match="empty"):
        store.write("", bars(5))
    with pytest.raises(ConfigError, match="cannot read start"):
        store.read("ex", "BTC/USDT", "1m", start="yesterday-ish")
