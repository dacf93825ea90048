"""The pure pieces of the core: fill-model functions, the order state machine, fee models, risk checks."""

from __future__ import annotations

import math

import pytest

from tradeforge.core.errors import ConfigError, IllegalTransition
from tradeforge.core.fees import CallableFee, MakerTakerFee, PercentFee, make_fee_model
from tradeforge.core.fills import (
    FillModel,
    limit_touch,
    match_bar,
    stop_touch,
    trailing_level,
    update_trailing,
)
from tradeforge.core.orders import Order
from tradeforge.core.risk import RiskCheckInput, RiskEngine, RiskLimits
from tradeforge.core.types import Liquidity, OrderStatus, OrderType, Side

S = OrderStatus


def order(kind: OrderType, side: Side = Side.BUY, **kw: object) -> Order:
    return Order(id=1, strategy="s", symbol="X", side=side, type=kind, qty=1.0, created_ts=0, created_bar=0, **kw)  # type: ignore[arg-type]


# ------------------------------------------------------------------------------------------ touch functions
@pytest.mark.parametrize(
    ("side", "limit", "bar", "expected"),
    [
        (Side.BUY, 95.0, (100.0, 101.0, 94.0), 95.0),  # range touches the limit
        (Side.BUY, 95.0, (93.0, 96.0, 92.0), 93.0),  # gap below the limit: better price, the open
        (Side.BUY, 95.0, (100.0, 101.0, 95.5), None),  # never reached
        (Side.BUY, 95.0, (100.0, 101.0, 95.0), 95.0),  # low exactly at the limit
        (Side.SELL, 105.0, (100.0, 106.0, 99.0), 105.0),
        (Side.SELL, 105.0, (107.0, 108.0, 103.0), 107.0),
        (Side.SELL, 105.0, (100.0, 104.9, 99.0), None),
    ],
)
def test_limit_touch(side: Side, limit: float, bar: tuple[float, float, float], expected: float | None) -> None:
    assert limit_touch(side, limit, *bar) == expected


@pytest.mark.parametrize(
    ("side", "stop", "bar", "expected"),
    [
        (Side.BUY, 105.0, (100.0, 106.0, 99.0), 105.0),
        (Side.BUY, 105.0, (107.0, 108.0, 103.0), 107.0),  # gap above the stop: triggered at the (worse) open
        (Side.BUY, 105.0, (100.0, 104.0, 99.0), None),
        (Side.SELL, 95.0, (100.0, 101.0, 94.0), 95.0),
        (Side.SELL, 95.0, (93.0, 96.0, 92.0), 93.0),
        (Side.SELL, 95.0, (100.0, 101.0, 96.0), None),
    ],
)
def test_stop_touch(side: Side, stop: float, bar: tuple[float, float, float], expected: float | None) -> None:
    assert stop_touch(side, stop, *bar) == expected


def test_match_bar_liquidity_by_order_type() -> None:
    assert match_bar(order(OrderType.MARKET), 100.0, 101.0, 99.0) == (100.0, Liquidity.TAKER)
    assert match_bar(order(OrderType.LIMIT, limit=99.5), 100.0, 101.0, 99.0) == (99.5, Liquidity.MAKER)
    assert match_bar(order(OrderType.STOP, stop=100.5), 100.0, 101.0, 99.0) == (100.5, Liquidity.TAKER)


def test_stop_limit_marketable_trigger_fills_at_the_stop_as_taker() -> None:
    o = order(OrderType.STOP_LIMIT, stop=105.0, limit=106.0)
    assert match_bar(o, 100.0, 107.0, 99.0) == (105.0, Liquidity.TAKER)
    assert o.triggered


def test_stop_limit_triggered_intrabar_with_lower_limit_waits_for_the_next_bar() -> None:
    o = order(OrderType.STOP_LIMIT, stop=105.0, limit=103.0)
    # the low (99) is below the limit, but it may have come before the trigger: no fill on the trigger bar
    assert match_bar(o, 100.0, 107.0, 99.0) is None
    assert o.triggered
    # from the next bar on it is a plain limit at 103
    assert match_bar(o, 104.0, 105.0, 102.0) == (103.0, Liquidity.MAKER)


def test_stop_limit_triggered_at_the_open_works_as_a_limit_on_that_bar() -> None:
    o = order(OrderType.STOP_LIMIT, stop=105.0, limit=107.0)
    assert match_bar(o, 106.0, 108.0, 104.0) == (106.0, Liquidity.MAKER)
    o2 = order(OrderType.STOP_LIMIT, stop=105.0, limit=105.5)
    assert match_bar(o2, 106.0, 108.0, 104.0) == (105.5, Liquidity.MAKER)
    o3 = order(OrderType.STOP_LIMIT, stop=105.0, limit=105.5)
    assert match_bar(o3, 106.0, 108.0, 105.8) is None
    assert o3.triggered


def test_stop_limit_not_triggered_stays_untriggered() -> None:
    o = order(OrderType.STOP_LIMIT, stop=105.0, limit=106.0)
    assert match_bar(o, 100.0, 104.9, 95.0) is None
    assert not o.triggered


def test_stop_limit_sell_mirror() -> None:
    o = order(OrderType.STOP_LIMIT, Side.SELL, stop=95.0, limit=94.0)
    assert match_bar(o, 100.0, 101.0, 93.0) == (95.0, Liquidity.TAKER)
    o2 = order(OrderType.STOP_LIMIT, Side.SELL, stop=95.0, limit=97.0)
    assert match_bar(o2, 100.0, 101.0, 93.0) is None  # triggered at 95, limit 97 not marketable
    assert match_bar(o2, 96.0, 98.0, 95.5) == (97.0, Liquidity.MAKER)


def test_trailing_level_and_update() -> None:
    sell = order(OrderType.TRAILING_STOP, Side.SELL, trail_amount=5.0, trail_extreme=100.0)
    assert trailing_level(sell) == 95.0
    update_trailing(sell, high=110.0, low=90.0)
    assert sell.trail_extreme == 110.0 and trailing_level(sell) == 105.0
    update_trailing(sell, high=104.0, low=80.0)  # never moves against the trader
    assert sell.trail_extreme == 110.0
    buy = order(OrderType.TRAILING_STOP, Side.BUY, trail_percent=0.1, trail_extreme=100.0)
    assert trailing_level(buy) == pytest.approx(110.0)
    update_trailing(buy, high=120.0, low=90.0)
    assert buy.trail_extreme == 90.0 and trailing_level(buy) == pytest.approx(99.0)
    update_trailing(buy, high=120.0, low=95.0)
    assert buy.trail_extreme == 90.0


def test_taker_price_adverse_and_clamped() -> None:
    fm = FillModel(slippage=0.01, spread=0.02)  # adverse = 1% + 1%
    assert fm.taker_price(Side.BUY, 100.0, 90.0, 110.0) == pytest.approx(102.0)
    assert fm.taker_price(Side.SELL, 100.0, 90.0, 110.0) == pytest.approx(98.0)
    assert fm.taker_price(Side.BUY, 100.0, 99.0, 101.0) == 101.0  # clamped to the high
    assert fm.taker_price(Side.SELL, 100.0, 99.0, 101.0) == 99.0  # clamped to the low
    assert FillModel().taker_price(Side.BUY, 100.0, 90.0, 110.0) == 100.0


@pytest.mark.parametrize(
    "kw",
    [
        {"slippage": -0.1},
        {"spread": 0.5},
        {"slippage": math.nan},
        {"max_volume_fraction": 0.0},
        {"max_volume_fraction": 1.5},
    ],
)
def test_fill_model_rejects_bad_settings(kw: dict[str, float]) -> None:
    with pytest.raises(ConfigError):
        FillModel(**kw)  # type: ignore[arg-type]


# ------------------------------------------------------------------------------------------ state machine
def test_order_legal_path_is_recorded_in_history() -> None:
    o = order(OrderType.LIMIT, limit=1.0)
    o.transition(S.SUBMITTED, 10)
    o.transition(S.ACCEPTED, 10)
    o.transition(S.PARTIALLY_FILLED, 20)
    o.transition(S.PARTIALLY_FILLED, 30)
    o.transition(S.FILLED, 40)
    assert o.history == [
        (10, S.SUBMITTED),
        (10, S.ACCEPTED),
        (20, S.PARTIALLY_FILLED),
        (30, S.PARTIALLY_FILLED),
        (40, S.FILLED),
    ]
    assert o.status is S.FILLED and o.updated_ts == 40 and not o.is_open


@pytest.mark.parametrize(
    ("path", "illegal"),
    [
        ([S.SUBMITTED, S.ACCEPTED, S.FILLED], S.CANCELLED),
        ([S.SUBMITTED, S.ACCEPTED, S.CANCELLED], S.FILLED),
        ([S.SUBMITTED, S.REJECTED], S.ACCEPTED),
        ([S.SUBMITTED, S.ACCEPTED, S.EXPIRED], S.ACCEPTED),
        ([], S.FILLED),  # NEW cannot fill before being submitted
        ([], S.ACCEPTED),
        ([S.SUBMITTED], S.FILLED),
        ([S.SUBMITTED, S.ACCEPTED, S.PARTIALLY_FILLED], S.REJECTED),
    ],
)
def test_illegal_transitions_raise(path: list[OrderStatus], illegal: OrderStatus) -> None:
    o = order(OrderType.MARKET)
    for k, status in enumerate(path):
        o.transition(status, k)
    before = list(o.history)
    with pytest.raises(IllegalTransition, match=f"from {o.status.value} to {illegal.value}"):
        o.transition(illegal, 99)
    assert o.history == before  # nothing recorded


def test_record_fill_averages_price_and_sums_fees() -> None:
    o = order(OrderType.MARKET)
    o.qty = 10.0
    o.record_fill(4.0, 100.0, 1.0)
    o.record_fill(6.0, 110.0, 2.0)
    assert o.filled_qty == 10.0 and o.remaining == 0.0
    assert o.avg_fill_price == pytest.approx(106.0)
    assert o.fees == 3.0


# ------------------------------------------------------------------------------------------------ fees
def test_fee_models_compute_exact_fees() -> None:
    assert make_fee_model(0.001).fee(10, 100.0, Liquidity.TAKER) == pytest.approx(1.0)
    fixed = make_fee_model((5.0, 0.001))
    assert isinstance(fixed, PercentFee) and fixed.fixed() == 5.0 and fixed.unit_rate(Liquidity.TAKER) == 0.001
    assert fixed.fee(10, 100.0, Liquidity.TAKER) == pytest.approx(6.0)
    mt = MakerTakerFee(maker=-0.0002, taker=0.0007)
    assert mt.fee(10, 100.0, Liquidity.MAKER) == pytest.approx(-0.2)
    assert mt.fee(10, 100.0, Liquidity.TAKER) == pytest.approx(0.7)
    fn = make_fee_model(lambda q, p: 1.0 + 0.5 * q)
    assert isinstance(fn, CallableFee)
    assert fn.fee(-4, 100.0, Liquidity.TAKER) == 3.0  # called with |qty|


@pytest.mark.parametrize("bad", [0.1, -0.2, math.inf, True, "0.1", (1.0, 2.0, 3.0)])
def test_bad_commission_is_a_config_error(bad: object) -> None:
    with pytest.raises(ConfigError):
        make_fee_model(bad)


def test_callable_fee_must_return_a_finite_number() -> None:
    with pytest.raises(ConfigError, match="commission function"):
        make_fee_model(lambda q, p: math.nan).fee(1, 1.0, Liquidity.TAKER)


# ------------------------------------------------------------------------------------------------ risk
def check(
    limits: RiskLimits,
    signed_qty: float,
    *,
    price: float = 100.0,
    position: float = 0.0,
    gross: float = 0.0,
    account: float | None = None,
    reduces: bool = False,
) -> str | None:
    return RiskEngine(limits).check(
        RiskCheckInput(
            symbol="X",
            signed_qty=signed_qty,
            price=price,
            multiplier=1.0,
            position_qty=position,
            gross_exposure=gross,
            account_position_qty=position if account is None else account,
            reduces=reduces,
        )
    )


def test_risk_checks_name_the_limit() -> None:
    assert "max_order_qty" in (check(RiskLimits(max_order_qty=5), 6) or "")
    assert check(RiskLimits(max_order_qty=5), 5) is None
    assert "max_order_value" in (check(RiskLimits(max_order_value=500), 6) or "")
    assert check(RiskLimits(max_order_value=500), 5) is None
    assert "max_position_qty" in (check(RiskLimits(max_position_qty=10), 4, position=7) or "")
    assert check(RiskLimits(max_position_qty=10), 3, position=7) is None
    assert "max_position_value" in (check(RiskLimits(max_position_value=1000), 4, position=7) or "")
    assert "max_gross_exposure" in (check(RiskLimits(max_gross_exposure=2000), 5, gross=1600, account=0) or "")
    assert check(RiskLimits(max_gross_exposure=2000), 4, gross=1600, account=0) is None


def test_reducing_orders_pass_every_limit() -> None:
    # closing risk must always be possible (closes, stop-losses, the kill switch), whatever its size
    assert check(RiskLimits(max_position_qty=1), -5, position=8, reduces=True) is None
    assert check(RiskLimits(max_order_qty=1), -5, position=8, reduces=True) is None
    assert "max_order_qty" in (check(RiskLimits(max_order_qty=1), 5, position=8, reduces=False) or "")


def test_halted_engine_refuses_entries_but_not_reductions() -> None:
    engine = RiskEngine()
    engine.halt("too much loss")
    inp = RiskCheckInput("X", 1.0, 100.0, 1.0, 0.0, 0.0, 0.0, reduces=False)
    reason = engine.check(inp)
    assert reason is not None and "kill switch" in reason and "too much loss" in reason
    inp.reduces = True
    assert engine.check(inp) is None


@pytest.mark.parametrize("bad", [0, -1, math.nan, math.inf])
def test_risk_limits_must_be_positive(bad: float) -> None:
    with pytest.raises(ConfigError, match="max_order_qty"):
        RiskLimits(max_order_qty=bad)
