"""Real sample bars shipped inside the package (data/samples/*.csv.gz) behind a small loader API.

The registry below is data: one entry per file with its group, time frame label, facts (bar count, first
and last bar open time, checked by the tests) and a sensible Instrument for trading it.
"""

from __future__ import annotations

import atexit
from contextlib import ExitStack
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import pandas as pd

from tradeforge.core.bars import BarSeries
from tradeforge.core.errors import ConfigError
from tradeforge.core.types import Instrument
from tradeforge.data.files import read_bars
from tradeforge.data.frames import series_to_frame
from tradeforge.data.timeframes import timeframe_ns


@dataclass(frozen=True, slots=True)
class SampleInfo:
    """One bundled sample. timeframe is the label ('5m', '1mo'); first/last are bar open times in ISO 8601
    UTC ('2004-08-19T00:00:00Z', as core.clock.iso writes them); path is the gzip CSV file."""

    name: str
    group: str
    timeframe: str
    bars: int
    first: str
    last: str
    description: str
    path: Path


@dataclass(frozen=True, slots=True)
class _Sample:
    name: str
    group: str
    timeframe: str
    bars: int
    first: str
    last: str
    description: str
    instrument: Instrument

    @property
    def file(self) -> str:
        return f"{self.name}.csv.gz"


def _stock(name: str, bars: int, first: str, last: str, what: str) -> _Sample:
    instrument = Instrument(name, tick_size=0.01, lot_size=1.0, quote_currency="USD")
    return _Sample(name, "stocks-1d", "1d", bars, first, last, what, instrument)


def _btc_pair(name: str, bars: int, last: str, lot: float) -> _Sample:
    """Spot pairs quoted in BTC with 8-decimal prices; lot sizes follow the exchange's 2018 step sizes."""
    coin = name.split("-")[0]
    return _Sample(
        name,
        "crypto-5m",
        "5m",
        bars,
        "2018-01-10T04:55:00Z",
        last,
        f"{coin} spot priced in BTC, 5-minute bars, 10-30 Jan 2018 (real exchange data with gaps)",
        Instrument(name, tick_size=1e-8, lot_size=lot, quote_currency="BTC"),
    )


_US = "US stock daily bars 2012-2014"
_US_FIRST, _US_LAST = "2012-01-03T00:00:00Z", "2014-12-31T00:00:00Z"
_SAMPLES: tuple[_Sample, ...] = (
    _stock("GOOG", 2148, "2004-08-19T00:00:00Z", "2013-03-01T00:00:00Z", "Alphabet (Google) daily bars"),
    _stock("AAPL", 754, _US_FIRST, _US_LAST, f"Apple: {_US} (split-adjusted)"),
    _stock("IBM", 754, _US_FIRST, _US_LAST, f"IBM: {_US}"),
    _stock("KO", 754, _US_FIRST, _US_LAST, f"Coca-Cola: {_US}"),
    _stock("MSFT", 754, _US_FIRST, _US_LAST, f"Microsoft: {_US}"),
    _Sample(
        "BTC-PERP",
        "crypto-1m",
        "1m",
        45031,
        "2021-12-31T23:01:00Z",
        "2022-02-01T05:31:00Z",
        "BTC perpetual swap in USD, 1-minute bars, January 2022",
        # prices are whole dollars except 41 of 180,124 values, so the tick is the venue's 1 USD
        Instrument("BTC-PERP", tick_size=1.0, lot_size=0.001, quote_currency="USD"),
    ),
    _btc_pair("ADA-BTC", 5720, "2018-01-30T04:50:00Z", 1.0),
    _btc_pair("DASH-BTC", 5758, "2018-01-30T04:50:00Z", 0.001),
    _btc_pair("ETC-BTC", 5759, "2018-01-30T04:45:00Z", 0.01),
    _btc_pair("ETH-BTC", 5760, "2018-01-30T04:50:00Z", 0.001),
    _btc_pair("LTC-BTC", 5760, "2018-01-30T04:50:00Z", 0.01),
    _btc_pair("NXT-BTC", 5760, "2018-01-30T04:50:00Z", 1.0),
    _btc_pair("TRX-BTC", 5754, "2018-01-30T04:50:00Z", 1.0),
    _btc_pair("XLM-BTC", 5760, "2018-01-30T04:50:00Z", 1.0),
    _btc_pair("XMR-BTC", 5758, "2018-01-30T04:50:00Z", 0.001),
    _btc_pair("ZEC-BTC", 5757, "2018-01-30T04:45:00Z", 0.001),
    _Sample(
        "6EH4",
        "futures-1m",
        "1m",
        29996,
        "2024-01-01T23:01:00Z",
        "2024-01-31T23:59:00Z",
        "CME euro FX future (6E, March 2024 contract), 1-minute bars, January 2024",
        Instrument("6EH4", tick_size=0.00005, lot_size=1.0, quote_currency="USD", multiplier=125_000.0),
    ),
    _Sample(
        "EURUSD",
        "fx-1h",
        "1h",
        5000,
        "2017-04-19T09:00:00Z",
        "2018-02-07T15:00:00Z",
        "EUR/USD spot FX hourly bars, April 2017 - February 2018",
        Instrument("EURUSD", tick_size=0.00001, lot_size=1.0, quote_currency="USD"),
    ),
    _Sample(
        "BTCUSD",
        "crypto-1mo",
        "1mo",
        156,
        "2012-01-31T00:00:00Z",
        "2024-12-31T00:00:00Z",
        "BTC/USD monthly bars 2012-2024 (stamped at month end; the engine treats a month as 30 days)",
        Instrument("BTCUSD", tick_size=0.01, lot_size=0.0001, quote_currency="USD"),
    ),
)
_BY_NAME = {sample.name.upper(): sample for sample in _SAMPLES}
_GROUPS = tuple(dict.fromkeys(sample.group for sample in _SAMPLES))
_FILES = ExitStack()  # temporary copies of samples read from a zipped install, removed at exit
atexit.register(_FILES.close)
_EXTRACTED: dict[str, Path] = {}


def _find(name: str) -> _Sample:
    sample = _BY_NAME.get(name.strip().upper()) if isinstance(name, str) else None
    if sample is None:
        raise ConfigError(
            f"unknown sample {name!r}; available samples: {', '.join(s.name for s in _SAMPLES)} "
            "(names are case-insensitive)"
        )
    return sample


def _group(group: str) -> str:
    wanted = group.strip().lower() if isinstance(group, str) else ""
    if wanted not in _GROUPS:
        raise ConfigError(f"unknown sample group {group!r}; available groups: {', '.join(_GROUPS)}")
    return wanted


def sample_path(name: str) -> Path:
    """The sample's gzip CSV as a file on disk (extracted to a temporary file if the package is zipped)."""
    file = _find(name).file
    resource = resources.files("tradeforge.data").joinpath("samples", file)
    if isinstance(resource, Path):
        return resource
    if file not in _EXTRACTED:
        _EXTRACTED[file] = _FILES.enter_context(resources.as_file(resource))
    return _EXTRACTED[file]


def list_samples(group: str | None = None) -> list[SampleInfo]:
    """All bundled samples in registry order (stocks, crypto 1m, crypto 5m, futures, FX, monthly BTC),
    or those of one group such as 'crypto-5m'."""
    wanted = None if group is None else _group(group)
    return [
        SampleInfo(s.name, s.group, s.timeframe, s.bars, s.first, s.last, s.description, sample_path(s.name))
        for s in _SAMPLES
        if wanted is None or s.group == wanted
    ]


def load_sample(name: str) -> BarSeries:
    """A bundled sample as a validated BarSeries; symbol is the sample's name, timeframe its label in ns
    ('1mo' -> 30 days). Names are case-insensitive; an unknown name raises ConfigError listing them all."""
    sample = _find(name)
    return read_bars(sample_path(sample.name), symbol=sample.name, timeframe=timeframe_ns(sample.timeframe))


def load_sample_frame(name: str) -> pd.DataFrame:
    """A bundled sample as a DataFrame: tz-aware UTC DatetimeIndex 'timestamp', columns open..volume."""
    return series_to_frame(load_sample(name))


def sample_instrument(name: str) -> Instrument:
    """The Instrument (tick, lot, quote currency, multiplier) to trade a bundled sample with."""
    return _find(name).instrument


def load_group(group: str) -> dict[str, BarSeries]:
    """Every sample of a group by name: load_group('crypto-5m') -> the ten BTC pairs. Case-insensitive."""
    wanted = _group(group)
    return {s.name: load_sample(s.name) for s in _SAMPLES if s.group == wanted}
