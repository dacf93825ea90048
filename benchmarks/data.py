"""Bar store speed: write 1,000,000 1-minute bars to a BarStore, read them back (all and a 10% range), append
1,000 new bars to the 1M-bar store, compare reading against pandas read_csv of the same bars as CSV, and
resample the 1M 1-minute bars to 1h (against pandas' resample, results checked equal).

Prints seconds, bars/s and ratios; with --json PATH writes rows {"case", "library", "seconds", "per_second",
"peak_mb", "trades", "equity"} (trades=0 and equity=0.0 for data rows).

    python benchmarks/data.py [--bars 1000000] [--json bench.json] [--repeat 3]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import measure, random_walk, row, write_json
from tradeforge.core.bars import BarSeries
from tradeforge.core.clock import NS_PER_MINUTE
from tradeforge.data.resample import resample
from tradeforge.data.store import BarStore


def best(func: Callable[[], Any], repeat: int) -> tuple[Any, float, float]:
    out, seconds, peak = measure(func)
    for _ in range(repeat - 1):
        out, again, peak = measure(func)
        seconds = min(seconds, again)
    return out, seconds, peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bars", type=int, default=1_000_000)
    parser.add_argument("--append", type=int, default=1_000)
    parser.add_argument("--repeat", type=int, default=1, help="best of N runs")
    parser.add_argument("--json", dest="json_path", default=None)
    args = parser.parse_args()

    n, extra = args.bars, args.append
    walk = random_walk(n + extra)
    cols = ("open", "high", "low", "close", "volume")
    full = BarSeries.from_arrays("BTC/USDT", NS_PER_MINUTE, walk["ts"], *(walk[c] for c in cols))
    series, tail = full.slice(0, n), full.slice(n, n + extra)
    lo, hi = int(series.ts[n * 45 // 100]), int(series.ts[n * 55 // 100])
    rows: list[dict[str, Any]] = []

    with tempfile.TemporaryDirectory() as tmp:
        store = BarStore(Path(tmp) / "store")
        csv = Path(tmp) / "bars.csv"

        def report(case: str, library: str, seconds: float, units: int, peak: float) -> None:
            rows.append(row(case, library, seconds, units, peak, 0, 0.0))
            print(f"{case:<24} {library:<16} {seconds:8.4f} s  {units / seconds:14,.0f} bars/s")

        _, sec, peak = best(lambda: store.write("bench", series), args.repeat)
        report("store_write_1m", "tradeforge", sec, n, peak)

        back, sec_read, peak = best(lambda: store.read("bench", "BTC/USDT", "1m"), args.repeat)
        assert len(back) == n and np.array_equal(back.close, series.close)
        report("store_read_all", "tradeforge", sec_read, n, peak)

        part, sec_range, peak = best(lambda: store.read("bench", "BTC/USDT", "1m", start=lo, end=hi), args.repeat)
        assert len(part) == n // 10
        report("store_read_range_10pct", "tradeforge", sec_range, len(part), peak)

        frame = pd.DataFrame({"timestamp": pd.to_datetime(series.ts, utc=True)} | {c: getattr(series, c) for c in cols})
        frame.to_csv(csv, index=False)

        def read_csv() -> pd.DataFrame:
            return pd.read_csv(csv, parse_dates=["timestamp"])

        loaded, sec_csv, peak = best(read_csv, args.repeat)
        assert len(loaded) == n
        report("store_read_all", "pandas.read_csv", sec_csv, n, peak)

        # time only the append: write first, then measure the append alone
        seconds = []
        peak = 0.0
        for _ in range(args.repeat):
            store.write("bench", series)
            added, sec, peak = measure(lambda: store.append("bench", tail))
            assert added == extra
            seconds.append(sec)
        sec_append = min(seconds)
        assert len(store.read("bench", "BTC/USDT", "1m")) == n + extra
        report("store_append_1k_to_1m", "tradeforge", sec_append, extra, peak)

        hourly, sec_rs, peak = best(lambda: resample(series, "1h").bars, args.repeat)
        report("resample_1m_to_1h", "tradeforge", sec_rs, n, peak)
        indexed = frame.set_index("timestamp")
        agg = {"open": "first", "high": "max", "low": "min", "close": "last", "volume": "sum"}

        def pandas_resample() -> pd.DataFrame:
            return indexed.resample("1h", label="left", closed="left").agg(agg).dropna(subset=["open"])

        expected, sec_pd, peak = best(pandas_resample, args.repeat)
        assert np.array_equal(hourly.close, expected["close"].to_numpy())
        report("resample_1m_to_1h", "pandas.resample", sec_pd, n, peak)

        print(f"resample 1m -> 1h: tradeforge {sec_rs:.3f} s, pandas {sec_pd:.3f} s ({sec_pd / sec_rs:.1f}x)")
        print(f"read all: BarStore is {sec_csv / sec_read:.1f}x faster than pandas.read_csv")
        print(f"10% range read takes {sec_range / sec_read:.2f} of a full read")
        print(f"appending {extra:,} bars takes {sec_append / sec_read:.3f} of reading the whole store")
    write_json(rows, args.json_path)


if __name__ == "__main__":
    main()
