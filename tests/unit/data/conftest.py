"""Fixtures of the data tests: the fake exchange server of ccxt_venue.py."""

from __future__ import annotations

from collections.abc import Iterator
from http.server import ThreadingHTTPServer

import pytest


@pytest.fixture(scope="module")
def server() -> Iterator[ThreadingHTTPServer]:
    pytest.importorskip("ccxt")
    from ccxt_venue import serve

    with serve() as srv:
        yield srv
