"""Gather the daily report's sections from the marts and ops tables.

Each section reads one or two marts with a fixed column list (the marts' contracts). A mart that is
missing (its model is not built yet) or has no row for the session yields a section marked "not available"
with the reason, never an error: the report is most needed on the nights something upstream went wrong.

Nothing is recomputed here: the market filter's SMA and gate come from market_state, data quality is dbt's
verdict on the tests in dbt_project/tests/dq with the rows they stored (rapidtrader.dq).
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal

from psycopg2 import errors

from rapidtrader import dbt_results, dq
from rapidtrader.report import charts
from rapidtrader.settings import get_settings


@dataclass
class Table:
    columns: list[str]
    rows: list[tuple]


@dataclass
class Section:
    key: str
    title: str
    available: bool = True
    note: str | None = None
    lines: list[str] = field(default_factory=list)
    tables: list[tuple[str | None, Table]] = field(default_factory=list)
    images: list[tuple[str, str]] = field(default_factory=list)

    def unavailable(self, reason: str) -> Section:
        self.available = False
        self.note = reason
        return self


@dataclass
class Report:
    session: dt.date | None
    run_id: str | None
    generated_at: dt.datetime
    sections: list[Section]

    @property
    def headline(self) -> list[str]:
        out = []
        for section in self.sections:
            if section.key == "summary":
                out.extend(section.lines)
        return out


class NotBuilt(Exception):
    """A mart the section reads does not exist yet (its model has never been built in this database)."""

    def __init__(self, relation: str) -> None:
        super().__init__(relation)
        self.relation = relation


def _query(cur, sql: str, params: tuple = ()) -> Table:
    """Run one query; a missing relation becomes NotBuilt naming it (the section then says so)."""
    try:
        cur.execute(sql, params)
    except errors.UndefinedTable as exc:
        match = re.search(r'relation "(?:[^".]+\.)?([^"]+)" does not exist', str(exc))
        raise NotBuilt(match.group(1) if match else "a mart") from None
    return Table([c.name for c in cur.description], [tuple(r) for r in cur.fetchall()])


def _scalar(cur, sql: str, params: tuple = ()):
    return _query(cur, sql, params).rows[0][0]


def _num(x) -> float | None:
    if x is None:
        return None
    return float(x) if isinstance(x, Decimal | int | float) else None


def _money(x) -> str:
    v = _num(x)
    return "n/a" if v is None else f"{v:,.2f}"


def _pct(x) -> str:
    v = _num(x)
    return "n/a" if v is None else f"{100 * v:.2f}%"


def resolve_session(cur, requested: dt.date | None) -> dt.date | None:
    """The session reported on: the requested date, else the newest date in bars_daily."""
    if requested is not None:
        return requested
    try:
        return _scalar(cur, "select max(d) from marts.bars_daily")
    except NotBuilt:
        return None


def resolve_run_id(cur, run_id: str | None) -> str | None:
    if run_id:
        return run_id
    cur.execute("select run_id from ops.job_log order by started_at desc limit 1")
    row = cur.fetchone()
    return row[0] if row else None


# ---------------------------------------------------------------------------------------------------
# Sections


def market_gate(cur, d: dt.date, s: Section) -> None:
    t = _query(
        cur,
        "select d, filter_symbol, close, sma, bull_gate, n_buy_candidates, n_blocked_by_gate "
        "from marts.market_state where d = %s",
        (d,),
    )
    if not t.rows:
        s.unavailable(f"not available: no market_state row for {d}")
        return
    row = dict(zip(t.columns, t.rows[0], strict=True))
    state = "OPEN (buys allowed)" if row["bull_gate"] else "CLOSED (new buys blocked)"
    s.lines.append(f"Gate {state}: {row['filter_symbol']} close {_money(row['close'])} vs SMA {_money(row['sma'])}.")
    s.lines.append(f"{row['n_buy_candidates']} buy candidates, {row['n_blocked_by_gate']} blocked by the gate.")
    s.tables.append((None, t))


def market_chart(cur, d: dt.date, s: Section) -> None:
    """The filter symbol's close and SMA as market_state holds them (the same numbers the gate used)."""
    n = get_settings().market_filter_sma
    t = _query(
        cur,
        "select d, filter_symbol, close, sma from marts.market_state where d <= %s order by d desc limit 300",
        (d,),
    )
    rows = list(reversed(t.rows))
    if len(rows) < 2:
        s.unavailable(f"not available: fewer than 2 market_state days up to {d}")
        return
    symbol = rows[-1][1]
    s.images.append(
        (
            f"{symbol} close and SMA{n}",
            charts.price_with_sma(
                symbol, [r[0] for r in rows], [float(r[2]) for r in rows], [_num(r[3]) for r in rows]
            ),
        )
    )
    last = rows[-1]
    s.lines.append(f"{symbol} close {_money(last[2])} on {last[0]}; SMA{n} {_money(last[3])}.")


def signals(cur, d: dt.date, s: Section) -> None:
    t = _query(
        cur,
        """
        select
            strategy,
            count(*) filter (where direction = 'buy') as buy,
            count(*) filter (where direction = 'sell') as sell,
            count(*) filter (where direction = 'hold') as hold,
            count(*) as total
        from marts.signals_daily
        where d = %s
        group by strategy
        order by strategy
        """,
        (d,),
    )
    if not t.rows:
        s.unavailable(f"not available: no signals for {d}")
        return
    s.tables.append((None, t))
    top = _query(
        cur,
        "select symbol, strength from marts.signals_daily "
        "where d = %s and strategy = 'COMBINED' and direction = 'buy' "
        "order by strength desc nulls last, symbol limit 10",
        (d,),
    )
    if top.rows:
        s.tables.append(("Strongest combined buys", top))


def orders(cur, d: dt.date, s: Section) -> None:
    t = _query(
        cur,
        """
        select
            side,
            reason,
            count(*) as orders,
            count(*) filter (where qty > 0) as placed,
            sum(qty) as qty,
            sum(qty * ref_price) as notional
        from marts.orders_eod
        where d = %s
        group by side, reason
        order by side, reason
        """,
        (d,),
    )
    if not t.rows:
        s.unavailable(f"no orders for {d} (none proposed, or the ledger has not reached this day)")
        return
    placed = sum(r[3] for r in t.rows)
    blocked = sum(r[2] - r[3] for r in t.rows)
    s.lines.append(f"{placed} orders placed for the next open; {blocked} candidates blocked.")
    s.tables.append(("By side and reason", t))
    detail = _query(
        cur,
        "select rank, symbol, side, qty, ref_price, reason, strategy "
        "from marts.orders_eod where d = %s and qty > 0 order by side desc, rank nulls last, symbol limit 50",
        (d,),
    )
    if detail.rows:
        s.tables.append(("Placed orders", detail))


def _fills(cur, d: dt.date, s: Section) -> None:
    t = _query(
        cur,
        "select side, status, count(*) as n, sum(qty) as qty, sum(qty * price) as value "
        "from marts.fills where d = %s group by side, status order by side, status",
        (d,),
    )
    if not t.rows:
        s.lines.append(f"No fills on {d}.")
        return
    s.tables.append(("Fills at today's open", t))
    detail = _query(
        cur, "select symbol, side, qty, price, status from marts.fills where d = %s order by side, symbol", (d,)
    )
    s.tables.append(("Fill detail", Table(detail.columns, detail.rows[:50])))


def _stops(cur, d: dt.date, s: Section) -> None:
    t = _query(
        cur,
        "select symbol, event from marts.symbol_events where d = %s and event = 'STOP_HIT' order by symbol",
        (d,),
    )
    s.lines.append(f"{len(t.rows)} stop(s) hit on {d}." if t.rows else f"No stops hit on {d}.")
    if t.rows:
        s.tables.append(("Stops hit", t))


def fills_and_stops(cur, d: dt.date, s: Section) -> None:
    missing = []
    for part in (_fills, _stops):
        try:
            part(cur, d, s)
        except NotBuilt as exc:
            missing.append(exc.relation)
    if len(missing) == 2:
        s.unavailable(f"not available: {' and '.join(missing)} are not built yet")


def positions(cur, d: dt.date, s: Section) -> None:
    t = _query(
        cur,
        "select symbol, sector, qty, entry_d, entry_price, stop_price, close, market_value "
        "from marts.positions_daily where d = %s order by market_value desc nulls last, symbol",
        (d,),
    )
    if not t.rows:
        s.unavailable(f"no open positions on {d}")
        return
    total = sum(_num(r[7]) or 0 for r in t.rows)
    s.lines.append(f"{len(t.rows)} open positions" + (f", market value {_money(total)}." if total else "."))
    s.tables.append((None, Table(t.columns, t.rows[:50])))


def sector_exposure(cur, d: dt.date, s: Section) -> None:
    cap = get_settings().max_exposure_per_sector
    t = _query(
        cur,
        "select sector, market_value, weight from marts.sector_exposure_daily where d = %s "
        "order by weight desc nulls last, sector",
        (d,),
    )
    if not t.rows:
        s.unavailable(f"no sector exposure on {d} (no positions)")
        return
    rows = []
    for sector, mv, weight in t.rows:
        w = _num(weight) or 0.0
        rows.append((sector, _money(mv), _pct(w), _pct(cap - w), "OVER CAP" if w > cap + 1e-12 else "ok"))
    s.tables.append((None, Table(["sector", "market_value", "weight", "headroom", "status"], rows)))
    over = [r[0] for r in rows if r[4] != "ok"]
    s.lines.append(
        f"Cap {cap:.0%} of equity per sector: " + (f"OVER in {', '.join(over)}." if over else "every sector within.")
    )
    s.images.append(
        (
            "Sector exposure",
            charts.sector_exposure([r[0] or "?" for r in t.rows], [_num(r[2]) or 0 for r in t.rows], cap),
        )
    )


def equity(cur, d: dt.date, s: Section) -> None:
    t = _query(
        cur,
        "select d, cash, equity, gross_exposure, daily_return, drawdown from marts.portfolio_daily "
        "where d <= %s order by d",
        (d,),
    )
    if not t.rows:
        s.unavailable(f"not available: the ledger has no day up to {d}")
        return
    last = dict(zip(t.columns, t.rows[-1], strict=True))
    if last["d"] != d:
        s.note = f"the ledger last advanced on {last['d']}, not {d}"
    peak = max(_num(r[2]) or 0 for r in t.rows)
    max_dd = max(abs(_num(r[5]) or 0) for r in t.rows)
    s.lines.append(
        f"Equity {_money(last['equity'])} (cash {_money(last['cash'])}, gross exposure "
        f"{_money(last['gross_exposure'])}); day {_pct(last['daily_return'])}; drawdown {_pct(last['drawdown'])}; "
        f"peak {_money(peak)}; max drawdown {_pct(max_dd)}."
    )
    if len(t.rows) >= 2:
        s.images.append(
            (
                "Equity and drawdown",
                charts.equity_drawdown(
                    [r[0] for r in t.rows], [_num(r[2]) or 0 for r in t.rows], [_num(r[5]) for r in t.rows]
                ),
            )
        )


def _coverage_line(result: dq.DqResult, d: dt.date) -> str:
    """dbt's coverage verdict in words, with the measure and symbols its stored rows carry."""
    if result.verdict is None:
        return "Completeness: not checked yet (the coverage test dq_symbol_coverage has not run on this database)."
    session = result.session or d
    share = 1.0 if result.measure is None else 1 - result.measure / 100
    missing = result.symbols
    listed = f"; missing {len(missing)}: {', '.join(missing[:20])}" + (" ..." if len(missing) > 20 else "")
    return (
        f"Completeness of {session}: {_pct(share)} of the active universe has a bar"
        + (listed if missing else "")
        + f" (dq_symbol_coverage: {result.status})."
    )


def _bar_facts(cur, d: dt.date, s: Section) -> None:
    """Counts of what the marts hold for the session: clean, quarantined and discrepant bars."""
    s.lines.append(f"{_scalar(cur, 'select count(*) from marts.bars_daily where d = %s', (d,))} clean bars on {d}.")
    try:
        t = _query(
            cur,
            "select reason, count(*) as bars, string_agg(distinct symbol, ', ') as symbols "
            "from marts.bars_quarantine where d = %s group by reason order by bars desc",
            (d,),
        )
        total = _scalar(cur, "select count(*) from marts.bars_quarantine")
        s.lines.append(f"{sum(r[1] for r in t.rows)} bars quarantined on {d} ({total} in total).")
        if t.rows:
            s.tables.append(("Quarantined on this session", t))
        n = _scalar(cur, "select count(*) from marts.bar_source_discrepancies where d = %s", (d,))
        s.lines.append(f"{n} FMP/Yahoo close discrepancies on {d}.")
    except NotBuilt as exc:
        s.lines.append(f"{exc.relation}: not available (not built yet).")


def _verdicts(cur, run_id: str | None) -> tuple[list[dbt_results.NodeResult], list[dq.DqResult], str]:
    """The tests of the reported run, or of the newest runs that ran them when that run ran none."""
    tests = [r for r in dbt_results.recorded_for_run(cur, run_id) if r.resource_type == "test"] if run_id else []
    if tests:
        return tests, dq.for_run(cur, run_id), f"run {run_id}"
    return dbt_results.latest_tests(cur), dq.latest(cur), "the latest run of each test"


def data_quality(cur, d: dt.date, s: Section, run_id: str | None = None) -> None:
    tests, checks, source = _verdicts(cur, run_id)
    s.lines.append(_coverage_line(dq.find(checks, dq.COVERAGE), d))
    try:
        _bar_facts(cur, d, s)
    except NotBuilt as exc:
        s.lines.append(f"{exc.relation}: not available (not built yet).")
    if not tests:
        s.lines.append("dbt tests: no results recorded in this database yet (they are recorded by `make eod`).")
        return
    statuses: dict[str, int] = {}
    for r in tests:
        statuses[r.status] = statuses.get(r.status, 0) + 1
    s.lines.append(f"dbt tests of {source}: " + ", ".join(f"{k} {v}" for k, v in sorted(statuses.items())) + ".")
    failing = [(r.name, r.status, r.failures) for r in tests if r.status in dbt_results.NOT_PASSED]
    if failing:
        s.tables.append(("Tests that did not pass", Table(["test", "status", "fail_calc"], failing[:50])))
    stored = [(f"{dq.DQ_SCHEMA}.{c.check.test}", c.level, len(c.rows), c.summary()) for c in checks if c.rows]
    if stored:
        s.tables.append(
            ("Data-quality checks with stored rows (schema dq)", Table(["table", "verdict", "rows", "detail"], stored))
        )


def job_timings(cur, run_id: str | None, s: Section) -> None:
    if not run_id:
        s.unavailable("not available: job_log is empty")
        return
    t = _query(
        cur,
        """
        select
            j.job_name,
            j.status,
            j.started_at,
            round(extract(epoch from coalesce(j.finished_at, now()) - j.started_at)::numeric, 1) as seconds,
            j.rows,
            m.peak_rss_mb,
            m.api_calls,
            left(j.error, 200) as error
        from ops.job_log as j
        left join lateral (
            select peak_rss_mb, api_calls from ops.run_metrics as r
            where r.run_id = j.run_id and r.job_name = j.job_name
            order by r.id desc limit 1
        ) as m on true
        where j.run_id = %s
        order by j.id
        """,
        (run_id,),
    )
    if not t.rows:
        s.unavailable(f"not available: no job_log rows for run {run_id}")
        return
    s.lines.append(f"Run {run_id}.")
    s.tables.append((None, t))
    done = [(r[0], float(r[3])) for r in t.rows if r[3] is not None]
    if done:
        s.images.append(("Job timings", charts.job_timings([j for j, _ in done], [x for _, x in done])))


def alerts_section(cur, run_id: str | None, s: Section) -> None:
    t = _query(
        cur,
        "select raised_at, tier, code, message from ops.alerts "
        "where run_id = %s or raised_at >= now() - interval '24 hours' order by id desc limit 50",
        (run_id or "",),
    )
    if not t.rows:
        s.lines.append("No alerts in the last 24 hours.")
    else:
        s.tables.append((None, t))


def summary(report_sections: list[Section], d: dt.date | None, run_id: str | None) -> Section:
    s = Section("summary", "Summary")
    s.lines.append(f"Session {d or 'unknown'}; run {run_id or 'n/a'}.")
    missing = [x.title for x in report_sections if not x.available]
    if missing:
        s.lines.append("Not available tonight: " + ", ".join(missing) + ".")
    for x in report_sections:
        if x.key in ("market_gate", "equity", "orders") and x.available and x.lines:
            s.lines.append(x.lines[0])
    return s


# (key, title, function filling the section): the first list is given the session, the second the run id
SESSION_SECTIONS: list[tuple[str, str, Callable]] = [
    ("market_gate", "Market gate", market_gate),
    ("market_chart", "Market filter symbol", market_chart),
    ("signals", "Signals by strategy and direction", signals),
    ("orders", "Orders placed and blocked", orders),
    ("fills", "Fills and stops", fills_and_stops),
    ("positions", "Positions", positions),
    ("sectors", "Sector exposure against the cap", sector_exposure),
    ("equity", "Equity curve and drawdown", equity),
    ("data_quality", "Data quality", data_quality),
]
RUN_SECTIONS: list[tuple[str, str, Callable]] = [
    ("jobs", "Job timings", job_timings),
    ("alerts", "Alerts", alerts_section),
]


def _section(conn, cur, key: str, title: str, fill: Callable, *args) -> Section:
    s = Section(key, title)
    try:
        fill(cur, *args, s)
    except NotBuilt as exc:
        s.unavailable(f"not available: {exc.relation} is not built yet")
    except Exception as exc:  # noqa: BLE001 - one broken mart must not sink the report
        conn.rollback()
        s.unavailable(f"error: {exc}")
    return s


def build_report(conn, session: dt.date | None = None, run_id: str | None = None) -> Report:
    """Every section for one session; sections that cannot be built say why."""
    with conn.cursor() as cur:
        d = resolve_session(cur, session)
        rid = resolve_run_id(cur, run_id)
        sections: list[Section] = []
        if d is None:
            sections.append(Section("bars", "Bars").unavailable("not available: bars_daily is empty or not built"))
        else:
            for key, title, fill in SESSION_SECTIONS:
                if fill is data_quality:  # the tests of the reported run, not just the newest ones
                    fill = functools.partial(data_quality, run_id=rid)
                sections.append(_section(conn, cur, key, title, fill, d))
        for key, title, fill in RUN_SECTIONS:
            sections.append(_section(conn, cur, key, title, fill, rid))
    return Report(
        session=d,
        run_id=rid,
        generated_at=dt.datetime.now().astimezone(),
        sections=[summary(sections, d, rid), *sections],
    )
