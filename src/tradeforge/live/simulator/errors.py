"""Errors of the simulator: ApiError is an answer in binance's wire format; SimulatorError is ours, in Python."""

from __future__ import annotations

from tradeforge.core.errors import TradeforgeError


class SimulatorError(TradeforgeError):
    """The simulator cannot do what it was asked (port taken, no more bars, server not running...)."""


class ApiError(Exception):
    """An error the simulated exchange answers with, exactly as binance does: HTTP status + {"code", "msg"}."""

    def __init__(self, status: int, code: int, msg: str) -> None:
        super().__init__(f"HTTP {status} {code}: {msg}")
        self.status = status
        self.code = code
        self.msg = msg

    def body(self) -> dict[str, object]:
        return {"code": self.code, "msg": self.msg}


def missing(param: str) -> ApiError:
    return ApiError(400, -1102, f"Mandatory parameter '{param}' was not sent, was empty/null, or malformed.")


def illegal(param: str, legal: str = "^([0-9]{1,20})(\\.[0-9]{1,20})?$") -> ApiError:
    return ApiError(400, -1100, f"Illegal characters found in parameter '{param}'; legal range is '{legal}'.")


def insufficient_balance() -> ApiError:
    return ApiError(400, -2010, "Account has insufficient balance for requested action.")


def filter_failure(name: str) -> ApiError:
    return ApiError(400, -1013, f"Filter failure: {name}")


def rate_limited() -> ApiError:
    return ApiError(
        429,
        -1003,
        "Too much request weight used; current limit is 6000 request weight per 1 MINUTE. "
        "Please use WebSocket Streams for live updates to avoid polling the API.",
    )


def unknown_order(cancel: bool) -> ApiError:
    return ApiError(400, -2011, "Unknown order sent.") if cancel else ApiError(400, -2013, "Order does not exist.")
