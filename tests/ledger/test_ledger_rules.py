"""Edge cases of the ledger rules (README, "The paper ledger"), on hand-made inputs. Expected values
are worked out in the comments from the rules (not copied from the output).
Days: D1..D5 = 2024-01-02, 03, 04, 05, 08."""

from __future__ import annotations

from decimal import Decimal

from tests.ledger.conftest import World

D1, D2, D3, D4, D5 = "2024-01-02", "2024-01-03", "2024-01-04", "2024-01-05", "2024-01-08"
DAYS = [D1, D2, D3, D4, D5]


def open_gate(world: World, days: list[str] = DAYS) -> World:
    for d in days:
        world.gate[d] = True
    return world


def test_rank_ties_and_cash_prefix(run_ledger):
    # pct 0.4, no binding risk or sector cap: size = floor(100000 x 0.4 / 100) = 400 (value 40000) each.
    # Rank: CCC (0.8) first; AAA and BBB tie at 0.5 -> symbol ascending: AAA 2, BBB 3.
    # Cash prefix over 100000: 40000, 80000 pass; 120000 fails -> BBB cash_block with qty 0.
    w = open_gate(World(sectors={"AAA": "Tech", "BBB": "Energy", "CCC": "Utilities"}))
    for s, strength in (("AAA", 0.5), ("BBB", 0.5), ("CCC", 0.8)):
        w.flat(s, [D1, D2], 100).signal(D1, s, "buy", strength, 100, 1)
    led = run_ledger(w, pct_per_trade=Decimal("0.4"), daily_risk_cap=Decimal("1"), max_sector=Decimal("1"))

    got = {s: (o["rank"], o["qty"], o["size"], o["reason"]) for s in ["AAA", "BBB", "CCC"] for o in [led.order(D1, s)]}
    assert got == {"CCC": (1, 400, 400, "entry"), "AAA": (2, 400, 400, "entry"), "BBB": (3, 0, 400, "cash_block")}
    # Next open: buys in rank order (CCC seq 1, AAA seq 2), 400 @ 100 each; cash 100000 - 80000.
    fills = sorted(led.of("fill", d=D2), key=lambda f: f["seq"])
    assert [(f["symbol"], f["qty"], f["price"]) for f in fills] == [("CCC", 400, 100), ("AAA", 400, 100)]
    assert led.day(D2)["cash"] == 20000
    led.check_reconciles(Decimal("100000"))


def _sector_world() -> World:
    # pct 0.10 and risk cap 1: Tech T1, T2 (close 100) -> 100 shares = 10000 each; T3 (close 50) -> 200
    # shares = 10000; T4 (close 10, ATR 1000) -> min(1000, floor(100000 / 3000) = 33) = 33 shares = 330.
    # E1 (Energy, close 100) -> 10000. Ranks by strength: T1, T2, T3, E1, T4.
    w = open_gate(World(sectors={"T1": "Tech", "T2": "Tech", "T3": "Tech", "T4": "Tech", "E1": "Energy"}))
    for s, strength, close, atr in (
        ("T1", 0.9, 100, 1),
        ("T2", 0.8, 100, 1),
        ("T3", 0.7, 50, 1),
        ("E1", 0.65, 100, 1),
        ("T4", 0.6, 10, 1000),
    ):
        w.flat(s, [D1, D2], close).signal(D1, s, "buy", strength, close, atr)
    return w


def test_sector_cap_exactly_at_cap_is_accepted(run_ledger):
    # Cap 0.30 x 100000 = 30000. Tech prefix sums: 10000, 20000, 30000 (= cap: accepted), 30330 (blocked).
    led = run_ledger(
        _sector_world(), pct_per_trade=Decimal("0.10"), daily_risk_cap=Decimal("1"), max_sector=Decimal("0.30")
    )
    reasons = {o["symbol"]: (o["rank"], o["qty"], o["reason"]) for o in led.of("order", d=D1)}
    assert reasons == {
        "T1": (1, 100, "entry"),
        "T2": (2, 100, "entry"),
        "T3": (3, 200, "entry"),
        "E1": (4, 100, "entry"),
        "T4": (5, 0, "sector_exposure_block"),
    }


def test_sector_cap_prefix_rule_blocks_the_rest_of_the_sector(run_ledger):
    # Cap 0.25 -> 25000: T1 10000, T2 20000 pass; T3 30000 fails; T4 fails too (prefix 30330) although
    # 20000 + 330 alone would fit. Energy is its own prefix: E1 passes.
    led = run_ledger(
        _sector_world(), pct_per_trade=Decimal("0.10"), daily_risk_cap=Decimal("1"), max_sector=Decimal("0.25")
    )
    reasons = {o["symbol"]: o["reason"] for o in led.of("order", d=D1)}
    assert reasons == {
        "T1": "entry",
        "T2": "entry",
        "T3": "sector_exposure_block",
        "E1": "entry",
        "T4": "sector_exposure_block",
    }


def test_sector_cap_counts_held_positions(run_ledger):
    # Held: H (Tech) bought D2 at 100 with the default sizing on equity 100000 -> min(50, floor(500/6) = 83)
    # = 50 shares, worth 5000 at D2's close. On D2 equity is 100000 (no price change). With cap 0.30:
    # T1 at 100, pct 0.05 -> 50 shares = 5000 ... prefix 5000 + 5000 = 10000 <= 30000. With cap 0.09 (9000):
    # 5000 held + 5000 = 10000 > 9000 -> blocked by the held position alone.
    w = open_gate(World(sectors={"H": "Tech", "T1": "Tech"}))
    w.flat("H", [D1, D2, D3], 100).flat("T1", [D1, D2, D3], 100)
    w.signal(D1, "H", "buy", 0.5, 100, 2).signal(D2, "T1", "buy", 0.5, 100, 2)
    assert run_ledger(w).order(D2, "T1")["reason"] == "entry"
    led = run_ledger(w, max_sector=Decimal("0.09"))
    assert led.order(D1, "H")["reason"] == "entry"  # 5000 <= 9000 on D1 (nothing held yet)
    assert led.order(D2, "T1")["reason"] == "sector_exposure_block"


def _stop_world(d2_bar: tuple[float, float, float, float], d3_bar: tuple[float, float, float, float]) -> World:
    # S: buy signal on D1 at close 100 with ATR 2 -> size min(floor(5000/100) = 50, floor(500/6) = 83) = 50.
    w = open_gate(World(sectors={"S": "Tech"}))
    w.bar("S", D1, 100).bar("S", D2, *d2_bar).bar("S", D3, *d3_bar)
    w.signal(D1, "S", "buy", 0.5, 100, 2)
    return w


def test_gap_down_through_the_stop_exits_at_the_open(run_ledger):
    # D2: fill 50 @ open 100, stop = 100 - 3 x 2 = 94; low 99 > 94, still held. D3 gaps to open 90 (< stop):
    # exit at min(open 90, stop 94) = 90. Cash 100000 - 5000 + 4500 = 99500.
    led = run_ledger(_stop_world((100, 101, 99, 100), (90, 91, 88, 89)))
    pos = led.one("position", d=D2, symbol="S")
    assert (pos["qty"], pos["entry_price"], pos["stop_price"]) == (50, 100, Decimal("94.0"))
    stop = led.one("fill", d=D3, side="stop")
    assert (stop["qty"], stop["price"], stop["status"]) == (50, 90, "filled")
    assert led.one("event", d=D3, symbol="S")["event"] == "STOP_HIT"
    assert led.day(D3)["cash"] == 99500 and not led.of("position", d=D3)
    led.check_reconciles(Decimal("100000"))


def test_stop_on_the_entry_day(run_ledger):
    # D2: bought at open 100 in the morning, low 93 <= stop 94 the same day: exit at min(100, 94) = 94.
    # Cash 100000 - 5000 + 50 x 94 = 99700; events ENTRY and STOP_HIT on D2; flat at D2's close.
    led = run_ledger(_stop_world((100, 100, 93, 95), (95, 95, 95, 95)))
    assert sorted(e["event"] for e in led.of("event", d=D2)) == ["ENTRY", "STOP_HIT"]
    assert led.one("fill", d=D2, side="stop")["price"] == 94
    assert led.day(D2)["cash"] == 99700 and not led.of("position", d=D2)
    led.check_reconciles(Decimal("100000"))


def test_cooldown_boundary(run_ledger):
    # Stopped out on D2 (as above). Buy signals for S on D2, D3, D4. Cooldown 1 = the stop day and 1 trading
    # day after: D2 and D3 blocked, D4 accepted. Cooldown 0: only D2 blocked; D3's entry fills at D4's open,
    # so on D4 S is held and its buy signal makes no order row at all. Cooldown 2: D4 blocked too.
    w = _stop_world((100, 100, 93, 95), (95, 95, 95, 95)).flat("S", [D4, D5], 95)
    for d in (D2, D3, D4):
        w.signal(d, "S", "buy", 0.5, 95, 2)

    def reasons_for(k: int) -> list[str | None]:
        led = run_ledger(w, cooldown_days=k)
        return [next((o["reason"] for o in led.of("order", d=d, symbol="S")), None) for d in (D2, D3, D4)]

    reasons = {k: reasons_for(k) for k in (0, 1, 2)}
    assert reasons == {
        0: ["cooldown_block", "entry", None],
        1: ["cooldown_block", "cooldown_block", "entry"],
        2: ["cooldown_block", "cooldown_block", "cooldown_block"],
    }


def test_order_on_a_symbol_with_no_next_bar_expires(run_ledger):
    # D1: buys N and P (50 shares each at 100). D2: N has no bar -> expired (qty 0, ordered 50); P fills 50 @ 100.
    # D2: P's signal is sell -> exit order for 50. D3: P has no bar -> the sell expires, P stays held and is
    # marked at its last close 100: equity = 95000 + 5000. D4: P trades at 110 -> equity 95000 + 5500.
    w = open_gate(World(sectors={"N": "Tech", "P": "Energy"}))
    w.bar("N", D1, 100).bar("N", D3, 100).bar("N", D4, 100)
    w.bar("P", D1, 100).bar("P", D2, 100).bar("P", D4, 110)
    w.signal(D1, "N", "buy", 0.5, 100, 2).signal(D1, "P", "buy", 0.4, 100, 2).signal(D2, "P", "sell", None, 100, 2)
    led = run_ledger(w)
    n = led.one("fill", d=D2, symbol="N")
    assert (n["status"], n["qty"], n["ordered_qty"]) == ("expired", 0, 50)
    assert led.order(D2, "P")["qty"] == 50 and led.order(D2, "P")["reason"] == "exit"
    p = led.one("fill", d=D3, symbol="P")
    assert (p["side"], p["status"], p["qty"]) == ("sell", "expired", 0)
    assert led.one("position", d=D3, symbol="P")["close"] == 100
    assert (led.day(D3)["cash"], led.day(D3)["equity"]) == (95000, 100000)
    assert led.day(D4)["equity"] == 100500
    led.check_reconciles(Decimal("100000"))


def test_partial_fill_rejected_for_cash_gate_and_zero_size(run_ledger):
    # Capital 10000, pct 0.3: A, B, C at close 100 -> 30 shares (3000) each, prefix 9000 <= 10000: all entry.
    # D2 opens: A at 250 -> min(30, floor(10000/250) = 40) = 30, cash 2500; B at 100 -> min(30, 25) = 25
    # (partial), cash 0; C -> floor(0/100) = 0 -> rejected_cash. No fill at D1's close (no look-ahead).
    w = World(sectors={s: "Tech" for s in "ABCZQRW"} | {"U": None})
    w.gate.update({D1: True, D2: False, D3: True, D4: True})
    for s, strength in (("A", 0.9), ("B", 0.8), ("C", 0.7)):
        w.bar(s, D1, 100).signal(D1, s, "buy", strength, 100, 1)
    w.bar("A", D2, 250).bar("B", D2, 100).bar("C", D2, 100)
    w.flat("A", [D3, D4], 260).flat("B", [D3, D4], 100).flat("C", [D3, D4], 100)
    # D2 gate closed: Z's buy is gate-blocked; A's sell is still allowed.
    w.signal(D2, "Z", "buy", 0.9, 100, 1).signal(D2, "A", "sell", None, 250, 1)
    # D3: Q close 0, R no ATR, W too dear for one share of 30% of equity -> zero_size; U has no sector -> no row.
    w.signal(D3, "Q", "buy", 0.9, 0, 1).signal(D3, "R", "buy", 0.8, 100, None)
    w.signal(D3, "W", "buy", 0.7, 1_000_000, 1).signal(D3, "U", "buy", 0.9, 100, 1)
    led = run_ledger(
        w, capital=Decimal("10000"), pct_per_trade=Decimal("0.3"), daily_risk_cap=Decimal("1"), max_sector=Decimal("1")
    )
    assert not led.of("fill", d=D1)
    fills = {f["symbol"]: (f["qty"], f["price"], f["status"]) for f in led.of("fill", d=D2)}
    assert fills == {"A": (30, 250, "filled"), "B": (25, 100, "filled"), "C": (0, 100, "rejected_cash")}
    assert led.day(D2)["cash"] == 0
    assert (led.order(D2, "Z")["reason"], led.order(D2, "Z")["qty"], led.order(D2, "Z")["rank"]) == (
        "market_gate_block",
        0,
        None,
    )
    assert led.order(D2, "A")["reason"] == "exit"
    assert led.one("fill", d=D3, symbol="A")["price"] == 260  # sold at D3's open
    assert {s: led.order(D3, s)["reason"] for s in "QRW"} == {s: "zero_size" for s in "QRW"}
    assert not led.of("order", symbol="U")
    led.check_reconciles(Decimal("10000"))
