"""The rules that make a backtest believable: point-in-time membership, trading costs, the volume cap and
delistings, on hand-made inputs. Expected values are worked out in the comments from the rules in the
README ("Costs, membership and delistings"), not copied from the output.
Days: D1..D8 = 2024-01-02, 03, 04, 05, 08, 09, 10, 11."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from rapidtrader import PROJECT_ROOT
from rapidtrader.db import connect
from tests.ledger.conftest import DEFAULTS, World, random_world

D1, D2, D3, D4, D5, D6, D7, D8 = (
    "2024-01-02",
    "2024-01-03",
    "2024-01-04",
    "2024-01-05",
    "2024-01-08",
    "2024-01-09",
    "2024-01-10",
    "2024-01-11",
)
DAYS = [D1, D2, D3, D4, D5, D6, D7, D8]
RETAIL = {
    "slippage_bps": Decimal("5"),
    "commission_min": Decimal("1.00"),
    "commission_per_share": Decimal("0.005"),
    "commission_max_pct": Decimal("0.01"),
}


def gated(world: World) -> World:
    for d in DAYS:
        world.gate[d] = True
    return world


def one_buy(close: float = 100, strength: float = 0.5, atr: float = 1) -> World:
    """AAA at `close` every day, a buy signal on D1 (fills at the D2 open)."""
    w = gated(World(sectors={"AAA": "Tech"}))
    w.flat("AAA", DAYS, close).signal(D1, "AAA", "buy", strength, close, atr)
    return w


# Sizing used by the one-buy worlds: pct 0.01, risk cap 1 -> size = floor(100000 x 0.01 / close).
SMALL = {"pct_per_trade": Decimal("0.01"), "daily_risk_cap": Decimal("1"), "max_sector": Decimal("1")}


def test_a_member_added_mid_period_is_bought_only_from_its_add_date(run_ledger):
    # BBB joins the index on D3: its buy signals on D1 and D2 are blocked first of all (not_in_universe,
    # before the gate check: the gate is closed on D2 too), the one on D3 is accepted.
    w = gated(
        World(sectors={"AAA": "Tech", "BBB": "Tech"}, membership=[("AAA", "2020-01-01", None), ("BBB", D3, None)])
    )
    w.gate[D2] = False
    w.flat("BBB", DAYS, 50)
    for d in (D1, D2, D3):
        w.signal(d, "BBB", "buy", 0.5, 50, 1)
    led = run_ledger(w, universe_mode="pit", **SMALL)
    assert [
        (o["d"].isoformat(), o["qty"], o["reason"]) for o in sorted(led.of("order", symbol="BBB"), key=lambda o: o["d"])
    ] == [
        (D1, 0, "not_in_universe"),
        (D2, 0, "not_in_universe"),
        (D3, 20, "entry"),  # floor(100000 x 0.01 / 50)
    ]
    assert led.one("fill", d=D4, symbol="BBB")["status"] == "filled"


def test_a_member_removed_is_kept_until_the_strategy_exits(run_ledger):
    # AAA is bought D2 and leaves the index on D3; nothing sells it until its sell signal on D4 (fills D5).
    w = one_buy()
    w.membership = [("AAA", "2020-01-01", D3)]
    w.signal(D4, "AAA", "sell", None, 100, 1)
    led = run_ledger(w, universe_mode="pit", **SMALL)
    assert [p["d"].isoformat() for p in led.of("position", symbol="AAA")] == [D2, D3, D4]
    assert led.one("fill", d=D5, symbol="AAA")["side"] == "sell"


def test_current_mode_treats_the_latest_list_as_members_every_day(run_ledger):
    # No membership interval at all: in pit mode AAA is never a member, in current mode (it is in the
    # latest list, the world's symbols) it is bought.
    assert run_ledger(one_buy(), universe_mode="pit", **SMALL).order(D1, "AAA")["reason"] == "not_in_universe"
    assert run_ledger(one_buy(), universe_mode="current", **SMALL).order(D1, "AAA")["reason"] == "entry"


def test_commission_at_the_minimum_and_slippage_on_a_buy_and_a_sell(run_ledger):
    # 10 shares of AAA at 100 (size floor(1000 / 100)). Buy fills at 100 x 1.0005 = 100.05; commission
    # min(max(1.00, 10 x 0.005 = 0.05), 0.01 x 10 x 100.05 = 10.005) = 1.00 (the minimum); cash 100000 -
    # 1000.50 - 1.00 = 98998.50; slippage cost 10 x 0.05 = 0.50. Sell signal D2 -> sells D3 at 100 x 0.9995
    # = 99.95, commission 1.00, receives 999.50 - 1.00 = 998.50 -> cash 99997.00; slippage 0.50.
    w = one_buy()
    w.signal(D2, "AAA", "sell", None, 100, 1)
    led = run_ledger(w, **SMALL, **RETAIL)
    buy, sell = led.one("fill", d=D2, symbol="AAA"), led.one("fill", d=D3, symbol="AAA")
    assert (buy["qty"], buy["price"], buy["commission"], buy["slippage"]) == (10, Decimal("100.05"), 1, Decimal("0.5"))
    assert led.day(D2)["cash"] == Decimal("98998.50")
    assert (sell["qty"], sell["price"], sell["commission"], sell["slippage"]) == (
        10,
        Decimal("99.95"),
        1,
        Decimal("0.5"),
    )
    assert led.day(D3)["cash"] == Decimal("99997.00")
    led.check_reconciles(Decimal("100000"))


def test_commission_at_the_percentage_cap(run_ledger):
    # 1 share at 50 (size floor(100000 x 0.0005 / 50) = 1), no slippage: commission min(max(1.00, 0.005),
    # 0.01 x 1 x 50 = 0.50) = 0.50, the cap. Cash 100000 - 50 - 0.50.
    w = one_buy(close=50)
    led = run_ledger(
        w, pct_per_trade=Decimal("0.0005"), daily_risk_cap=Decimal("1"), **{**RETAIL, "slippage_bps": Decimal("0")}
    )
    buy = led.one("fill", d=D2, symbol="AAA")
    assert (buy["qty"], buy["price"], buy["commission"]) == (1, 50, Decimal("0.50"))
    assert led.day(D2)["cash"] == Decimal("99949.50")


def test_commission_per_share_between_the_bounds(run_ledger):
    # 400 shares at 10 (size floor(4000 / 10)): 400 x 0.005 = 2.00 is above the 1.00 minimum and below
    # 0.01 x 4000 = 40: commission 2.00.
    led = run_ledger(
        one_buy(close=10),
        pct_per_trade=Decimal("0.04"),
        daily_risk_cap=Decimal("1"),
        **{**RETAIL, "slippage_bps": Decimal("0")},
    )
    assert led.one("fill", d=D2, symbol="AAA")["commission"] == Decimal("2.00")


def test_the_volume_cap_binds_and_a_zero_cap_rejects(run_ledger):
    # Ordered 100 shares (size floor(10000 / 100)). D2 volume 1000 -> cap floor(0.025 x 1000) = 25: 25 fill.
    w = one_buy()
    w.volumes[("AAA", D2)] = 1000
    led = run_ledger(w, pct_per_trade=Decimal("0.1"), daily_risk_cap=Decimal("1"), max_participation=Decimal("0.025"))
    fill = led.one("fill", d=D2, symbol="AAA")
    assert (fill["ordered_qty"], fill["qty"], fill["status"]) == (100, 25, "filled")
    # Volume 39 -> floor(0.975) = 0: rejected_volume, nothing bought.
    w.volumes[("AAA", D2)] = 39
    led = run_ledger(w, pct_per_trade=Decimal("0.1"), daily_risk_cap=Decimal("1"), max_participation=Decimal("0.025"))
    fill = led.one("fill", d=D2, symbol="AAA")
    assert (fill["qty"], fill["status"]) == (0, "rejected_volume")
    assert led.day(D2)["cash"] == 100000


def test_cash_bounds_the_quantity_with_its_commission(run_ledger):
    # Capital 1003.00, one order of 10 shares at 100 (pct 1, risk cap 1, sector cap 1; the proposal's cash
    # prefix rule uses close x size = 1000 <= 1003). At the open: 10 x 100 + min(max(1, 0.05), 10) = 1001
    # fits; with capital 1000.50, 10 shares cost 1001 > 1000.50, so 9 (900 + 1 = 901).
    w = one_buy()
    full = dict(pct_per_trade=Decimal("1"), daily_risk_cap=Decimal("1"), max_sector=Decimal("1"))
    costs = {**RETAIL, "slippage_bps": Decimal("0")}
    led = run_ledger(w, capital=Decimal("1003.00"), **full, **costs)
    assert led.one("fill", d=D2, symbol="AAA")["qty"] == 10
    led = run_ledger(w, capital=Decimal("1000.50"), **full, **costs)
    assert led.order(D1, "AAA")["qty"] == 10
    fill = led.one("fill", d=D2, symbol="AAA")
    assert (fill["qty"], fill["status"]) == (9, "filled")
    assert led.day(D2)["cash"] == Decimal("99.50")


def test_a_stop_fills_below_the_unslipped_stop_level(run_ledger):
    # Bought D2 at 100 x 1.0005 = 100.05 with ATR 2: stop = 100 - 3 x 2 = 94 (from the unslipped open).
    # D3 opens at 95, low 90: stop fills at min(95, 94) x 0.9995 = 93.953; slippage cost 10 x 0.047.
    w = one_buy(atr=2)
    w.bar("AAA", D3, 95, 96, 90, 92)
    led = run_ledger(w, **SMALL, **RETAIL)
    assert led.one("position", d=D2, symbol="AAA")["stop_price"] == 94
    stop = led.one("fill", d=D3, symbol="AAA")
    assert (stop["side"], stop["price"], stop["slippage"], stop["commission"]) == (
        "stop",
        Decimal("93.953"),
        Decimal("0.470"),
        1,
    )


def test_a_held_symbol_without_bars_is_delisted_on_the_fifth_session(run_ledger):
    # AAA is bought D2 (10 shares at 100) and has no bars from D3 on; BBB keeps the calendar going. Missing
    # sessions D3, D4, D5, D6, D7: on D7 (the fifth) AAA is sold at its last close 100 x 0.9995 = 99.95,
    # commission 1.00, status delisted, event DELISTED.
    w = gated(World(sectors={"AAA": "Tech", "BBB": "Energy"}))
    w.flat("AAA", [D1, D2], 100).signal(D1, "AAA", "buy", 0.5, 100, 1)
    w.flat("BBB", DAYS, 20)
    led = run_ledger(w, delist_sessions=5, **SMALL, **RETAIL)
    assert [p["bars_missing"] for p in sorted(led.of("position", symbol="AAA"), key=lambda p: p["d"])] == [
        0,
        1,
        2,
        3,
        4,
    ]
    fill = led.one("fill", symbol="AAA", status="delisted")
    assert (fill["d"].isoformat(), fill["side"], fill["qty"], fill["price"], fill["commission"]) == (
        D7,
        "sell",
        10,
        Decimal("99.95"),
        1,
    )
    assert led.one("event", symbol="AAA", event="DELISTED")["d"].isoformat() == D7
    assert led.of("position", d=D7, symbol="AAA") == []
    led.check_reconciles(Decimal("100000"))


def test_a_pending_order_without_a_bar_still_expires(run_ledger):
    # A buy for D2 with no AAA bar on D2: expired, as without costs.
    w = gated(World(sectors={"AAA": "Tech", "BBB": "Energy"}))
    w.flat("AAA", [D1], 100).signal(D1, "AAA", "buy", 0.5, 100, 1)
    w.flat("BBB", DAYS, 20)
    led = run_ledger(w, delist_sessions=5, **SMALL, **RETAIL)
    assert led.one("fill", d=D2, symbol="AAA")["status"] == "expired"


@pytest.fixture(scope="module")
def ledger_v1(ledger_db):
    """The ledger functions as they were before costs, membership and delistings (udf.*_v1)."""
    text = (PROJECT_ROOT / "tests" / "fixtures" / "ledger_v1" / "ledger_functions.sql").read_text()
    body = text.split("{% macro ledger_create_functions() %}", 1)[1].split("{% endmacro %}", 1)[0]
    conn = connect(ledger_db)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(body)
    conn.close()
    return ledger_db


def _v1(url, start: str) -> list[dict]:
    keys = ["capital", "atr_stop_k", "enable_stop", "cooldown_days", "pct_per_trade", "daily_risk_cap", "max_sector"]
    run = {"run_id": 1, **{k: DEFAULTS[k] for k in keys}}
    conn = connect(url)
    with conn.cursor() as cur:
        cur.execute(
            "select (a.entry).* from udf.rt_ledger_advance_v1('inp.bars_daily', 'inp.signals_daily', "
            "'inp.market_state', 'inp.symbols', null, %s::date, null, %s::jsonb, true) as a",
            (start, json.dumps([run], default=str)),
        )
        names = [c.name for c in cur.description]
        rows = [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
    conn.rollback()
    conn.close()
    return rows


@pytest.mark.parametrize("seed", [7, 11, 23])
def test_with_every_cost_at_zero_the_ledger_equals_the_one_before_costs(ledger_v1, seed):
    """Costs, the volume cap and delistings at 0 and every symbol a member: the new functions give the
    rows of the old ones, to the cent (numeric equality; the new columns are 0 or empty)."""
    from tests.ledger.conftest import advance

    world, days = random_world(n_symbols=15, n_days=80, seed=seed)
    world.load(ledger_v1)
    before = _v1(ledger_v1, days[0])
    after = advance(ledger_v1, start=days[0]).rows

    def key(r: dict) -> tuple:
        return tuple(str(r[k]) for k in ("d", "record_type", "symbol", "side", "event", "seq"))

    assert len(before) == len(after) > 200
    after_by_key = {key(r): r for r in after}
    for old in before:
        new = after_by_key[key(old)]
        assert {k: new[k] for k in old} == old, key(old)
        assert (new["commission"] or 0) == 0 and (new["slippage"] or 0) == 0
