"""CcxtSource against ccxt's real request/parse code, served offline by a tiny HTTP server on 127.0.0.1.

Each exchange's candle endpoint is emulated with its own wire format (binance klines, kucoin market/candles,
gate spot/candlesticks) and its own paging parameters (see ccxt_venue.py). Nothing here can reach the internet.
"""

from __future__ import annotations

from http.server import ThreadingHTTPServer

import numpy as np
import pytest

ccxt = pytest.importorskip("ccxt")

from ccxt_venue import EMULATORS, EXCHANGES, HOUR_MS, T0_MS, assert_bars, rig  # noqa: E402

from tradeforge.core.errors import ConfigError, DataError, GatewayError  # noqa: E402
from tradeforge.data.sources import (  # noqa: E402
    BadSymbolError,
    BarSource,
    CcxtSource,
    DataSourceError,
    TemporaryDataSourceError,
)

# -- tests -------------------------------------------------------------------------------------------------------


def test_unknown_exchange_lists_close_matches() -> None:
    with pytest.raises(ConfigError, match=r"'binanse'.*'binance'"):
        CcxtSource("binanse")


def test_satisfies_the_bar_source_protocol(server: ThreadingHTTPServer) -> None:
    r = rig(server, "binance", 1)
    assert isinstance(r.source(now_ms=T0_MS), BarSource)
    assert r.source(now_ms=T0_MS).name == "binance"


def test_page_limit_comes_from_ccxt_features(server: ThreadingHTTPServer) -> None:
    assert rig(server, "binance", 1).source(now_ms=T0_MS, limit=None)._page_limit("BTC/USDT") == 1000
    assert rig(server, "kucoin", 1).source(now_ms=T0_MS, limit=None)._page_limit("BTC/USDT") == 1500


@pytest.mark.parametrize("exchange_id", EXCHANGES)
def test_paginates_and_stops_on_an_empty_page(server: ThreadingHTTPServer, exchange_id: str) -> None:
    r = rig(server, exchange_id, 10)
    seen: list[tuple[int, int]] = []
    now = T0_MS + 14 * HOUR_MS  # data ends at bar 9; the exchange has nothing after it
    bars = r.source(now_ms=now).fetch("BTC/USDT", "1h", T0_MS * 1_000_000, progress=lambda n, ts: seen.append((n, ts)))
    assert_bars(bars, r.venue.candles)
    assert r.venue.candle_requests == 4  # 4 + 4 + 2 bars, then an empty page
    assert [n for n, _ in seen] == [4, 8, 10]
    assert seen[-1][1] == (T0_MS + 9 * HOUR_MS) * 1_000_000
    assert all(exchange_id in line for line in r.venue.log)


def test_binance_requests_carry_since_and_limit(server: ThreadingHTTPServer) -> None:
    r = rig(server, "binance", 10)
    r.source(now_ms=T0_MS + 14 * HOUR_MS).fetch("BTC/USDT", "1h", T0_MS * 1_000_000)
    starts = [T0_MS + k * HOUR_MS for k in (0, 4, 8, 10)]
    assert r.venue.log == [f"/binance/api/v3/klines?interval=1h&limit=4&startTime={s}&symbol=BTCUSDT" for s in starts]


@pytest.mark.parametrize("exchange_id", EXCHANGES)
def test_drops_the_open_candle_and_stops_at_now(server: ThreadingHTTPServer, exchange_id: str) -> None:
    r = rig(server, exchange_id, 11)
    now = T0_MS + 10 * HOUR_MS + 30 * 60_000  # bar 10 opened 30 minutes ago: still open
    bars = r.source(now_ms=now).fetch("BTC/USDT", "1h", T0_MS * 1_000_000)
    assert_bars(bars, r.venue.candles[:10])
    assert r.venue.candle_requests == 3  # no request for bars that cannot be complete yet


@pytest.mark.parametrize("exchange_id", EXCHANGES)
def test_since_and_until_bound_the_bars(server: ThreadingHTTPServer, exchange_id: str) -> None:
    r = rig(server, exchange_id, 20)
    since = (T0_MS + 3 * HOUR_MS) * 1_000_000
    until = (T0_MS + 9 * HOUR_MS) * 1_000_000
    bars = r.source(now_ms=T0_MS + 40 * HOUR_MS).fetch("BTC/USDT", "1h", since, until)
    assert_bars(bars, r.venue.candles[3:9])
    assert r.venue.candle_requests == 2


@pytest.mark.parametrize("exchange_id", EXCHANGES)
def test_rate_limit_is_retried_with_backoff(server: ThreadingHTTPServer, exchange_id: str) -> None:
    r = rig(server, exchange_id, 10)
    limited = EMULATORS[exchange_id].rate_limited
    r.venue.failures = {2: limited, 3: limited}
    bars = r.source(now_ms=T0_MS + 14 * HOUR_MS).fetch("BTC/USDT", "1h", T0_MS * 1_000_000)
    assert_bars(bars, r.venue.candles)
    assert r.sleeps == [0.5, 1.0]
    assert r.venue.candle_requests == 6


def test_gives_up_after_max_retries_keeping_the_partial_download(server: ThreadingHTTPServer) -> None:
    r = rig(server, "binance", 10)
    limited = EMULATORS["binance"].rate_limited
    r.venue.failures = {k: limited for k in range(2, 10)}
    with pytest.raises(
        TemporaryDataSourceError, match=r"binance: .*after 4 attempts.*(DDoSProtection|RateLimitExceeded).*429"
    ) as info:
        r.source(now_ms=T0_MS + 14 * HOUR_MS, max_retries=3).fetch("BTC/USDT", "1h", T0_MS * 1_000_000)
    assert isinstance(info.value, GatewayError)
    assert r.sleeps == [0.5, 1.0, 2.0]
    assert info.value.partial is not None
    assert_bars(info.value.partial, r.venue.candles[:4])


@pytest.mark.parametrize("exchange_id", EXCHANGES)
def test_resume_after_an_interruption_has_no_duplicate_and_no_gap(
    server: ThreadingHTTPServer, exchange_id: str
) -> None:
    r = rig(server, exchange_id, 15)
    now = T0_MS + 20 * HOUR_MS
    r.venue.failures = {3: EMULATORS[exchange_id].server_error}  # fails on the third page
    stored = []
    source = r.source(now_ms=now)
    with pytest.raises(GatewayError):
        for page in source.pages("BTC/USDT", "1h", T0_MS * 1_000_000):
            stored.append(page)
    assert sum(len(p) for p in stored) == 8
    last_ts = int(stored[-1].ts[-1])
    resumed = source.fetch("BTC/USDT", "1h", last_ts + 1)
    ts = np.concatenate([p.ts for p in [*stored, resumed]])
    assert ts.tolist() == [c[0] * 1_000_000 for c in r.venue.candles]
    assert_bars(resumed, r.venue.candles[8:])


def test_resume_from_partial_of_a_failed_fetch(server: ThreadingHTTPServer) -> None:
    r = rig(server, "kucoin", 15)
    r.venue.failures = {3: EMULATORS["kucoin"].rate_limited}
    source = r.source(now_ms=T0_MS + 20 * HOUR_MS, max_retries=0)
    with pytest.raises(TemporaryDataSourceError) as info:
        source.fetch("BTC/USDT", "1h", T0_MS * 1_000_000)
    partial = info.value.partial
    assert partial is not None
    resumed = source.fetch("BTC/USDT", "1h", int(partial.ts[-1]) + 1)
    assert np.concatenate([partial.ts, resumed.ts]).tolist() == [c[0] * 1_000_000 for c in r.venue.candles]


@pytest.mark.parametrize("exchange_id", EXCHANGES)
def test_symbol_unknown_to_the_markets_names_close_matches(server: ThreadingHTTPServer, exchange_id: str) -> None:
    r = rig(server, exchange_id, 5)
    with pytest.raises(BadSymbolError, match=r"'BTC/USTD'.*'BTC/USDT'") as info:
        r.source(now_ms=T0_MS + 10 * HOUR_MS).fetch("BTC/USTD", "1h", T0_MS * 1_000_000)
    assert info.value.symbol == "BTC/USTD"
    assert "BTC/USDT" in info.value.suggestions
    assert isinstance(info.value, ConfigError)
    assert r.venue.candle_requests == 0


@pytest.mark.parametrize("exchange_id", EXCHANGES)
def test_symbol_refused_by_the_exchange_is_a_bad_symbol(server: ThreadingHTTPServer, exchange_id: str) -> None:
    r = rig(server, exchange_id, 5)
    with pytest.raises(BadSymbolError, match=r"'LUNA/USDT'.*refused") as info:
        r.source(now_ms=T0_MS + 10 * HOUR_MS).fetch("LUNA/USDT", "1h", T0_MS * 1_000_000)
    assert info.value.symbol == "LUNA/USDT"
    assert r.sleeps == []  # not retried


@pytest.mark.parametrize("exchange_id", EXCHANGES)
def test_other_exchange_errors_are_gateway_errors_with_the_message(
    server: ThreadingHTTPServer, exchange_id: str
) -> None:
    r = rig(server, exchange_id, 5)
    r.venue.failures = {1: EMULATORS[exchange_id].server_error}
    body = EMULATORS[exchange_id].server_error[1]
    message = body.get("msg") or body.get("message")
    with pytest.raises(GatewayError) as info:
        r.source(now_ms=T0_MS + 10 * HOUR_MS).fetch("BTC/USDT", "1h", T0_MS * 1_000_000)
    assert isinstance(info.value, DataSourceError)
    assert message in str(info.value)
    assert r.sleeps == []


def test_unsupported_timeframe_lists_the_exchange_timeframes(server: ThreadingHTTPServer) -> None:
    r = rig(server, "gate", 5)
    with pytest.raises(ConfigError, match=r"gate does not support the time frame '3m'.*10s, 1m, 5m") as info:
        r.source(now_ms=T0_MS + 10 * HOUR_MS).fetch("BTC/USDT", "3m", T0_MS * 1_000_000)
    assert not isinstance(info.value, BadSymbolError)
    assert r.venue.candle_requests == 0


def test_no_complete_bar_is_a_data_error(server: ThreadingHTTPServer) -> None:
    r = rig(server, "binance", 1)
    with pytest.raises(DataError, match="no complete 1h bars of BTC/USDT"):
        r.source(now_ms=T0_MS + 30 * 60_000).fetch("BTC/USDT", "1h", T0_MS * 1_000_000)


def test_rejects_bad_settings() -> None:
    with pytest.raises(ConfigError, match="max_retries"):
        CcxtSource("binance", max_retries=-1)
    with pytest.raises(ConfigError, match="limit"):
        CcxtSource("binance", limit=0)


@pytest.mark.parametrize("exchange_id", EXCHANGES)
def test_a_trading_halt_longer_than_several_pages_is_crossed(server: ThreadingHTTPServer, exchange_id: str) -> None:
    r = rig(server, exchange_id, 30)
    r.venue.candles = r.venue.candles[:5] + r.venue.candles[20:]  # 15 hours missing: more than 3 pages of 4
    series = r.source(now_ms=T0_MS + 31 * HOUR_MS).fetch("BTC/USDT", "1h", T0_MS * 1_000_000)
    assert_bars(series, r.venue.candles)


def test_empty_pages_in_a_row_end_the_download(server: ThreadingHTTPServer) -> None:
    r = rig(server, "kucoin", 3)
    r.venue.candles = []  # nothing at all, e.g. a market listed after `since`
    source = CcxtSource(
        "kucoin", exchange=r.exchange, sleep=r.sleeps.append, now=lambda: (T0_MS + 100 * HOUR_MS) * 1_000_000,
        limit=4, max_empty_pages=5,
    )  # fmt: skip
    assert list(source.pages("BTC/USDT", "1h", T0_MS * 1_000_000)) == []
    assert r.venue.candle_requests == 6  # the first empty page and five more windows
