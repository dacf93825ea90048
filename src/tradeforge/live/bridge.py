"""ExchangeBridge: blocking calls into ccxt's async exchange from the engine's worker thread, with retries.

The live runner runs each engine step in a worker thread while its event loop keeps the feeds going; a venue
gateway called by the engine (submit, cancel, matching) therefore runs in that thread and reaches the exchange by
scheduling the coroutine on the runner's loop and waiting for it. Temporary failures (ccxt's NetworkError family:
time-outs, dropped connections, rate limits, maintenance) are retried with exponential backoff and a log line each;
what is left after the last attempt is raised as ``ExchangeUnavailable``. Other ccxt errors are raised as they are,
for the gateway to translate (an insufficient-funds answer is a rejected order, not an outage).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from tradeforge.core.errors import ConfigError, GatewayError

log = logging.getLogger("tradeforge.live.bridge")
T = TypeVar("T")


class ExchangeUnavailable(GatewayError):
    """The exchange did not answer usefully after every retry (time-outs, disconnects, rate limits)."""


def temporary_errors() -> tuple[type[BaseException], ...]:
    import ccxt

    return (ccxt.NetworkError,)  # RequestTimeout, DDoSProtection/RateLimitExceeded, ExchangeNotAvailable, ...


class ExchangeBridge:
    """Runs exchange coroutines on ``loop`` (bind it from the runner's loop) and waits for them in this thread."""

    def __init__(
        self,
        exchange: Any,
        *,
        attempts: int = 5,
        backoff: float = 0.5,
        max_backoff: float = 8.0,
        call_timeout: float = 120.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if attempts < 1:
            raise ConfigError(f"attempts must be at least 1, got {attempts}")
        self.exchange = exchange
        self.attempts = attempts
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.call_timeout = call_timeout
        self.sleep = sleep
        self.loop: asyncio.AbstractEventLoop | None = None
        self.retries = 0  # temporary failures retried so far (for status lines and tests)

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop

    def run(self, make: Callable[[], Awaitable[T]]) -> T:
        """One attempt: run the coroutine on the bound loop and wait for its result here."""
        loop = self.loop
        if loop is None:
            raise ConfigError("the exchange bridge is not bound to the runner's event loop (call bind(loop) first)")
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            raise ConfigError("exchange calls from the event loop's own thread would deadlock: call from a worker")

        async def call() -> T:
            return await make()

        future = asyncio.run_coroutine_threadsafe(call(), loop)
        try:
            return future.result(self.call_timeout)
        except concurrent.futures.TimeoutError as exc:
            future.cancel()
            import ccxt

            raise ccxt.RequestTimeout(f"no answer within {self.call_timeout:g} s") from exc

    def delay(self, attempt: int) -> float:
        return float(min(self.max_backoff, self.backoff * 2 ** (attempt - 1)))

    def call(self, what: str, make: Callable[[], Awaitable[T]]) -> T:
        """Run with retries of temporary failures; ExchangeUnavailable after the last attempt."""
        temporary = temporary_errors()
        for attempt in range(1, self.attempts + 1):
            try:
                return self.run(make)
            except temporary as exc:
                if attempt == self.attempts:
                    raise ExchangeUnavailable(
                        f"{what}: {type(exc).__name__}: {exc} (gave up after {self.attempts} attempts)"
                    ) from exc
                pause = self.delay(attempt)
                self.retries += 1
                log.warning(
                    "%s: %s: %s; retry %d/%d in %.1f s", what, type(exc).__name__, exc, attempt, self.attempts, pause
                )
                self.sleep(pause)
        raise AssertionError("unreachable")  # pragma: no cover
