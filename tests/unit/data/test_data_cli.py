"""`tradeforge data ...` end to end: real ccxt code against the fake exchange on 127.0.0.1 (ccxt_venue.py), the
real bar store in a temporary folder, the real command parsing. Only the choice of exchange object is swapped:
the command's source factory returns a CcxtSource whose exchange points at the local server."""

from __future__ import annotations

import re
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

pytest.importorskip("ccxt")

from ccxt_venue import EMULATORS, HOUR_MS, T0_MS, Rig, make_candles, rig

from tradeforge.cli import app
from tradeforge.data import BarStore, load_sample, sample_path, write_bars
from tradeforge.service import data as service

NS = 1_000_000


def run(*args: str, store: Path) -> Any:
    result = CliRunner().invoke(app, [*args, "--store", str(store)], catch_exceptions=False)
    return result


def plain(text: str) -> str:
    return re.sub(r"\s+", " ", text)


@pytest.fixture
def venue(server: ThreadingHTTPServer, monkeypatch: pytest.MonkeyPatch) -> Rig:
    r = rig(server, "binance", 30)
    clock = {"now_ms": T0_MS + 20 * HOUR_MS}
    r.venue.candles = make_candles(30)

    original = service.make_source

    def factory(name: str) -> Any:
        if name != "binance":
            return original(name)
        return r.source(now_ms=clock["now_ms"], max_retries=1)

    monkeypatch.setattr(service, "make_source", factory)
    r.clock = clock  # type: ignore[attr-defined]
    return r


def stored_ms(store: Path) -> list[int]:
    series = BarStore(store).read("binance", "BTC/USDT", "1h")
    return (series.ts // NS).tolist()


def test_download_interrupted_resumes_then_update_brings_it_up_to_now(venue: Rig, tmp_path: Path) -> None:
    store = tmp_path / "store"
    limited = EMULATORS["binance"].rate_limited
    venue.venue.failures = {3: limited, 4: limited}  # the third page fails twice: more than max_retries=1
    first = run("data", "download", "binance", "BTC/USDT", "-t", "1h", "--since", "2024-01-01", store=store)
    assert first.exit_code == 1
    assert "failed" in first.output and "429" in plain(first.output)
    assert "run the same command again to resume" in plain(first.stderr if first.stderr_bytes else first.output)
    assert stored_ms(store) == [c[0] for c in venue.venue.candles[:8]]  # two pages of 4 kept

    again = run("data", "download", "binance", "BTC/USDT", "-t", "1h", store=store)
    assert again.exit_code == 0, again.output
    assert "binance:BTC/USDT@1h" in again.output
    assert stored_ms(store) == [c[0] for c in venue.venue.candles[:20]]  # complete bars up to now, no dup

    venue.clock["now_ms"] = T0_MS + 31 * HOUR_MS  # type: ignore[attr-defined]
    later = run("data", "update", store=store)
    assert later.exit_code == 0, later.output
    assert stored_ms(store) == [c[0] for c in venue.venue.candles]
    assert re.search(r"binance:BTC/USDT@1h\s*│\s*10\b", later.output), later.output  # 10 new bars

    listed = run("data", "list", store=store)
    assert re.search(
        r"binance:BTC/USDT@1h\s*│\s*30\s*│\s*2024-01-01T00:00:00Z\s*│\s*2024-01-02T05:00:00Z", listed.output
    )

    shown = run("data", "show", "binance:BTC/USDT", store=store)
    assert shown.exit_code == 0
    assert "30 bars from 2024-01-01T00:00:00Z to 2024-01-02T05:00:00Z" in plain(shown.output)
    assert "gaps: none" in shown.output


def test_download_of_an_unknown_symbol_names_close_matches(venue: Rig, tmp_path: Path) -> None:
    out = run("data", "download", "binance", "BTC/USDX", "--since", "2024-01-01", store=tmp_path / "s")
    assert out.exit_code == 1
    assert "BTC/USDT" in plain(out.output)  # the suggestion


def test_download_needs_since_for_a_new_symbol(venue: Rig, tmp_path: Path) -> None:
    out = run("data", "download", "binance", "BTC/USDT", store=tmp_path / "s")
    assert out.exit_code == 1
    assert "pass since=" in plain(out.output) or "since" in plain(out.output)


def test_import_list_show_resample_and_backtest_by_name(tmp_path: Path) -> None:
    store = tmp_path / "store"
    imported = run("data", "import", str(sample_path("BTC-PERP")), "--source", "ftx", store=store)
    assert imported.exit_code == 0, imported.output
    assert "stored 45,031 bar(s) as ftx:BTC-PERP@1m" in plain(imported.output)
    resampled = run("data", "resample", "ftx:BTC-PERP@1m", "--to", "4h", store=store)
    assert resampled.exit_code == 0, resampled.output
    assert "as ftx:BTC-PERP@4h" in plain(resampled.output)
    bars = BarStore(store).read("ftx", "BTC-PERP", "4h")
    minute = load_sample("BTC-PERP")
    first_period = minute.ts < bars.ts[1]
    assert bars.high[0] == minute.high[first_period].max()
    assert bars.volume[0] == pytest.approx(minute.volume[first_period].sum(), rel=1e-12)
    bt = CliRunner().invoke(
        app,
        [
            "backtest",
            "-s",
            "sma_cross",
            "-d",
            "ftx:BTC-PERP@4h",
            "--store",
            str(store),
            "--no-report",
            "-o",
            str(tmp_path / "bt"),
        ],
    )
    assert bt.exit_code == 0, bt.output
    assert "BTC-PERP" in bt.output


def test_import_of_a_bad_file_fails_and_changes_nothing(tmp_path: Path) -> None:
    store = tmp_path / "store"
    run("data", "import", str(sample_path("ETH-BTC")), "--source", "poloniex", store=store)
    before = sorted(p.name for p in store.rglob("*"))
    bad = tmp_path / "ETH-BTC.csv"
    bad.write_text(
        "timestamp,open,high,low,close,volume\n2017-01-01T00:00:00Z,1,0.5,0.9,1,1\n2017-01-01T00:05:00Z,1,2,0.9,1,1\n"
    )
    out = run("data", "import", str(bad), "--source", "poloniex", store=store)
    assert out.exit_code == 1
    assert "high 0.5 < low 0.9 at row 0 (line 2)" in plain(out.output)
    assert sorted(p.name for p in store.rglob("*")) == before


def test_validate_with_repair_reports_changes_and_writes_a_new_file(tmp_path: Path) -> None:
    messy = tmp_path / "messy.csv"
    lines = ["timestamp,Open,High,Low,Close,Volume"]
    for m in (0, 2, 1, 2, 3, 7):
        lines.append(f"2024-01-01T00:{m:02d}:00Z,1,2,0.5,1.5,10")
    messy.write_text("\n".join(lines) + "\n")
    refused = run("data", "validate", str(messy), store=tmp_path / "s")
    assert refused.exit_code == 1
    assert "unsorted" in plain(refused.output)
    fixed_path = tmp_path / "fixed.parquet"
    fixed = run("data", "validate", str(messy), "--repair", "--out", str(fixed_path), store=tmp_path / "s")
    assert fixed.exit_code == 0, fixed.output
    text = plain(fixed.output)
    assert "repaired: sorted the bars by time (2 of 6 rows were out of order)" in text
    assert "repaired: dropped 1 duplicate row(s)" in text
    assert "3 bar(s) missing between 2024-01-01T00:03:00Z and 2024-01-01T00:07:00Z" in text
    clean = run("data", "validate", str(fixed_path), store=tmp_path / "s")
    assert clean.exit_code == 0
    assert "repaired" not in clean.output


def test_import_with_column_mapping_and_time_zone(tmp_path: Path) -> None:
    frame_path = tmp_path / "AAPL.csv"
    frame_path.write_text("Day,o,h,l,c\n2024-01-02 09:30,10,11,9,10.5\n2024-01-02 09:31,10.5,12,10,11\n")
    out = run(
        "data", "import", str(frame_path), "--tz", "America/New_York",
        "-c", "Day=timestamp", "-c", "o=open", "-c", "h=high", "-c", "l=low", "-c", "c=close",
        store=tmp_path / "store",
    )  # fmt: skip
    assert out.exit_code == 0, out.output
    series = BarStore(tmp_path / "store").read("file", "AAPL", "1m")
    assert series.ts[0] == np.datetime64("2024-01-02T14:30", "ns").astype(np.int64)
    bad = run("data", "import", str(frame_path), "-c", "Day", store=tmp_path / "store")
    assert bad.exit_code == 1
    assert "THEIRS=OURS" in plain(bad.output)


def test_feather_file_imports(tmp_path: Path) -> None:
    path = write_bars(load_sample("EURUSD"), tmp_path / "EURUSD.feather")
    out = run("data", "import", str(path), "--source", "oanda", store=tmp_path / "store")
    assert out.exit_code == 0, out.output
    assert np.array_equal(BarStore(tmp_path / "store").read("oanda", "EURUSD", "1h").close, load_sample("EURUSD").close)
