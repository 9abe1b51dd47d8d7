"""Fixtures of the ledger tests: a scratch database with the ledger function and tiny hand-made inputs.

The scenario tests call udf.rt_ledger_advance_v2 directly (the function the dbt models call) on
four small input tables, so each edge case of the rules is a few symbols over a few days with values
reasoned out in the test. The end-to-end tests run dbt on the same kind of inputs placed where the
models read them (marts.bars_daily, signals_daily, market_state, symbols, and the ledger's signal input
intermediate.int_ledger_signals: World.load_for_dbt).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal

import pytest

from rapidtrader import PROJECT_ROOT
from rapidtrader.db import DbUrl, connect
from tests.conftest import execute

# The rules without trading costs, volume cap or delistings, every symbol of the world a member: the
# scenario tests of those rules set them explicitly.
DEFAULTS = {
    "capital": Decimal("100000"),
    "atr_stop_k": Decimal("3.0"),
    "enable_stop": True,
    "cooldown_days": 1,
    "pct_per_trade": Decimal("0.05"),
    "daily_risk_cap": Decimal("0.005"),
    "max_sector": Decimal("0.30"),
    "universe_mode": "current",
    "slippage_bps": Decimal("0"),
    "commission_min": Decimal("0"),
    "commission_per_share": Decimal("0"),
    "commission_max_pct": Decimal("0"),
    "max_participation": Decimal("0"),
    "delist_sessions": 0,
}


def ledger_function_sql() -> str:
    """The body of the `ledger_create_functions` macro: plain SQL (the macro uses no Jinja inside)."""
    text = (PROJECT_ROOT / "dbt_project" / "macros" / "trading" / "ledger_functions.sql").read_text()
    match = re.search(r"\{% macro ledger_create_functions\(\) %\}(.*)\{% endmacro %\}", text, re.S)
    assert match, "ledger_create_functions macro not found"
    assert "{{" not in match.group(1), "the macro body is expected to be plain SQL"
    return match.group(1)


INPUT_DDL = """
create schema if not exists {schema};
drop table if exists {schema}.bars_daily, {schema}.signals_daily, {schema}.market_state, {schema}.symbols,
    {schema}.universe_membership cascade;
create table {schema}.bars_daily (
    symbol text, d date, adj_open float8, adj_high float8, adj_low float8, adj_close float8, volume bigint
);
create table {schema}.signals_daily (
    d date, symbol text, strategy text, direction text, strength float8, close float8, atr_14 float8
);
create table {schema}.market_state (d date, bull_gate boolean);
create table {schema}.symbols (symbol text, sector text, is_tradable boolean, is_current_member boolean);
create table {schema}.universe_membership (symbol text, added_d date, removed_d date);
"""


@dataclass
class World:
    """Hand-made inputs: bars (o, h, l, c), COMBINED signals, the gate per day, symbols with sectors."""

    bars: dict[tuple[str, str], tuple[float, float, float, float]] = field(default_factory=dict)
    signals: dict[tuple[str, str], tuple[str, float | None, float | None, float | None]] = field(default_factory=dict)
    gate: dict[str, bool] = field(default_factory=dict)
    sectors: dict[str, str | None] = field(default_factory=dict)
    volumes: dict[tuple[str, str], int] = field(default_factory=dict)  # default 1,000,000 shares
    # point-in-time membership intervals (symbol, added_d, removed_d or None); current members = sectors
    membership: list[tuple[str, str, str | None]] = field(default_factory=list)

    def bar(
        self, symbol: str, d: str, o: float, h: float | None = None, low: float | None = None, c: float | None = None
    ) -> World:
        c = o if c is None else c
        self.bars[(symbol, d)] = (o, max(o, c) if h is None else h, min(o, c) if low is None else low, c)
        return self

    def flat(self, symbol: str, days: list[str], price: float) -> World:
        for d in days:
            self.bar(symbol, d, price)
        return self

    def signal(
        self,
        d: str,
        symbol: str,
        direction: str,
        strength: float | None = None,
        close: float | None = None,
        atr: float | None = None,
    ) -> World:
        self.signals[(d, symbol)] = (direction, strength, close, atr)
        return self

    def load(self, url: DbUrl, schema: str = "inp") -> None:
        conn = connect(url)
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(INPUT_DDL.format(schema=schema))
            for (symbol, d), (o, h, low, c) in self.bars.items():
                cur.execute(
                    f"insert into {schema}.bars_daily values (%s, %s, %s, %s, %s, %s, %s)",
                    (symbol, d, o, h, low, c, self.volumes.get((symbol, d), 1_000_000)),
                )
            for (d, symbol), (direction, strength, close, atr) in self.signals.items():
                cur.execute(
                    f"insert into {schema}.signals_daily values (%s, %s, 'COMBINED', %s, %s, %s, %s)",
                    (d, symbol, direction, strength, close, atr),
                )
            for d, gate in self.gate.items():
                cur.execute(f"insert into {schema}.market_state values (%s, %s)", (d, gate))
            for symbol, sector in self.sectors.items():
                cur.execute(
                    f"insert into {schema}.symbols values (%s, %s, %s, true)", (symbol, sector, sector is not None)
                )
            for symbol, added, removed in self.membership:
                cur.execute(f"insert into {schema}.universe_membership values (%s, %s, %s)", (symbol, added, removed))
        conn.close()

    def load_for_dbt(self, url: DbUrl) -> None:
        """The inputs where the dbt models read them: the tables in marts, and the ledger's signal input
        (intermediate.int_ledger_signals, signals_daily's COMBINED rows in the project) as a view of them."""
        self.load(url, schema="marts")
        execute(
            url,
            "create schema if not exists intermediate;"
            " create or replace view intermediate.int_ledger_signals as"
            " select * from marts.signals_daily where strategy = 'COMBINED'",
        )


class Ledger:
    """The rows rt_ledger_advance returned, with small accessors."""

    def __init__(self, rows: list[dict]):
        self.rows = rows

    def of(self, record_type: str, **where) -> list[dict]:
        return [
            r
            for r in self.rows
            if r["record_type"] == record_type and all(str(r[k]) == str(v) for k, v in where.items())
        ]

    def one(self, record_type: str, **where) -> dict:
        found = self.of(record_type, **where)
        assert len(found) == 1, f"expected one {record_type} {where}, got {found}"
        return found[0]

    def day(self, d: str) -> dict:
        return self.one("day", d=d)

    def order(self, d: str, symbol: str) -> dict:
        return self.one("order", d=d, symbol=symbol)

    def check_reconciles(self, capital: Decimal) -> None:
        """Beginning + changes = end for cash and positions on every day."""
        days = sorted(self.of("day"), key=lambda r: r["d"])
        previous_cash, previous_pos = capital, {}
        for day in days:
            d = day["d"]
            assert day["cash_open"] == previous_cash, d
            cash, pos = previous_cash, dict(previous_pos)
            for f in [*self.of("fill", d=d, status="filled"), *self.of("fill", d=d, status="delisted")]:
                sign = -1 if f["side"] == "buy" else 1
                cash += sign * f["qty"] * f["price"] - (f["commission"] or 0)
                pos[f["symbol"]] = pos.get(f["symbol"], 0) - sign * f["qty"]
            assert cash == day["cash"] >= 0, d
            held = {p["symbol"]: p["qty"] for p in self.of("position", d=d)}
            assert {k: v for k, v in pos.items() if v} == held, d
            assert all(q > 0 for q in held.values())
            previous_cash, previous_pos = day["cash"], held


@pytest.fixture(scope="session")
def ledger_db(scratch_db) -> DbUrl:
    """A scratch database holding the ledger function (inputs are (re)loaded by each test)."""
    url = scratch_db("ledger")
    conn = connect(url)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(ledger_function_sql())
    conn.close()
    return url


def _call(
    schema: str,
    state: str | None,
    start: str | None,
    end: str | None,
    params: dict,
    publish_last: bool = True,
    runs: list[dict] | None = None,
) -> tuple[str, tuple]:
    """The function's call with one run of DEFAULTS + `params`, or with `runs` (each over DEFAULTS, its
    run_id returned as the first column)."""
    if runs is None:
        runs = [{"run_id": 1, **DEFAULTS, **params}]
        columns = "(a.entry).*"
    else:
        runs = [{**DEFAULTS, **run} for run in runs]
        columns = "a.run_id, (a.entry).*"
    sql = (
        f"select {columns} from udf.rt_ledger_advance_v2("
        "%s, %s, %s, %s, %s, %s, %s::date, %s::date, %s::jsonb, %s) as a"
    )
    args = (
        f"{schema}.bars_daily",
        f"{schema}.signals_daily",
        f"{schema}.market_state",
        f"{schema}.symbols",
        f"{schema}.universe_membership",
        state,
        start,
        end,
        json.dumps(runs, default=str),
        publish_last,
    )
    return sql, args


def advance(
    url: DbUrl,
    *,
    schema: str = "inp",
    state: str | None = None,
    start: str | None = None,
    end: str | None = None,
    **params,
) -> Ledger:
    """Call rt_ledger_advance on the `schema` inputs and return its rows; `params` override DEFAULTS."""
    sql, args = _call(schema, state, start, end, params)
    conn = connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute(sql, args)
            names = [c.name for c in cur.description]
            rows = [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
        conn.commit()
    finally:
        conn.close()
    return Ledger(rows)


def advance_runs(url: DbUrl, runs: list[dict], *, schema: str = "inp", start: str | None = None) -> dict:
    """One call with several runs (as a sweep shard makes it; each run over DEFAULTS): run_id -> its rows,
    sorted."""
    sql, args = _call(schema, None, start, None, {}, runs=runs)
    conn = connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute(sql, args)
            rows = cur.fetchall()
        conn.rollback()
    finally:
        conn.close()
    by_run: dict[int, list[tuple]] = {}
    for run_id, *entry in rows:
        by_run.setdefault(run_id, []).append(tuple(str(v) for v in entry))
    return {run_id: sorted(entries) for run_id, entries in by_run.items()}


def advance_into(
    url: DbUrl,
    table: str,
    *,
    schema: str = "inp",
    start: str | None = None,
    end: str | None = None,
    publish: bool = True,
    **params,
) -> int:
    """What the nightly build does: append the function's rows for the new days to `table`, reading
    `table` itself as the state (created on the first call), then, like orders_eod when the risk tests
    pass, publish the orders of the day just appended (`publish=False`: a night whose orders were held
    back). Returns the number of rows appended."""
    conn = connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute("select to_regclass(%s)", (table,))
            exists = cur.fetchone()[0] is not None
            sql, args = _call(schema, table if exists else None, start, end, params, publish_last=False)
            cur.execute((f"insert into {table} " if exists else f"create table {table} as ") + sql, args)
            count = cur.rowcount
            if publish:
                cur.execute(f"update {table} set status = 'published' where record_type = 'order' and status is null")
        conn.commit()
    finally:
        conn.close()
    return count


@pytest.fixture()
def run_ledger(ledger_db) -> Iterator[Callable[..., Ledger]]:
    """run_ledger(world, **params) -> Ledger: load `world` and run one fresh ledger over all its days."""

    def run(world: World, **params) -> Ledger:
        world.load(ledger_db)
        return advance(ledger_db, **params)

    yield run


def random_world(n_symbols: int = 12, n_days: int = 60, seed: int = 7) -> tuple[World, list[str]]:
    """A deterministic random market: 3 sectors, a few missing bars, buy/sell signals, a mostly open gate."""
    import datetime as dt
    import random

    rng = random.Random(seed)
    days, d = [], dt.date(2024, 1, 2)
    while len(days) < n_days:
        if d.weekday() < 5:
            days.append(d.isoformat())
        d += dt.timedelta(days=1)
    symbols = [f"S{i:02d}" for i in range(n_symbols)]
    w = World(
        sectors={s: ("Tech", "Energy", "Utilities")[i % 3] for i, s in enumerate(symbols)},
        membership=[(s, "2000-01-03", None) for s in symbols],  # index members all along
    )
    for s in symbols:
        close = rng.uniform(20, 200)
        for day in days:
            if rng.random() < 0.03:
                continue  # no bar that day
            o = round(close * (1 + rng.gauss(0, 0.01)), 2)
            c = round(o * (1 + rng.gauss(0, 0.015)), 2)
            h = round(max(o, c) * (1 + rng.uniform(0, 0.01)), 2)
            low = round(min(o, c) * (1 - rng.uniform(0, 0.03)), 2)
            w.bar(s, day, o, h, low, c)
            close = c
            u = rng.random()
            if u < 0.3:
                w.signal(day, s, "buy", round(rng.random(), 2), c, round(c * 0.02, 4))
            elif u < 0.5:
                w.signal(day, s, "sell", None, c, round(c * 0.02, 4))
    for day in days:
        w.gate[day] = rng.random() < 0.85
    return w, days


def until(world: World, last_day: str) -> World:
    """The inputs as they stood on the night of `last_day`."""
    return World(
        bars={k: v for k, v in world.bars.items() if k[1] <= last_day},
        signals={k: v for k, v in world.signals.items() if k[0] <= last_day},
        gate={k: v for k, v in world.gate.items() if k <= last_day},
        sectors=dict(world.sectors),
        volumes={k: v for k, v in world.volumes.items() if k[1] <= last_day},
        membership=list(world.membership),
    )
