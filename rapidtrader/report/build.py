"""Gather the daily report's sections from the marts and ops tables.

Each section reads one or two marts. A mart that is missing (its model is not built yet) or has no row
for the session yields a section marked "not available" with the reason, never an error: the report is
most needed on the nights something upstream went wrong.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from dataclasses import dataclass, field
from decimal import Decimal

from rapidtrader.alerts import completeness, dbt_target_path
from rapidtrader.report import charts


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


def sector_cap() -> float:
    return float(os.environ.get("RT_MAX_EXPOSURE_PER_SECTOR") or 0.30)


def _exists(cur, relation: str) -> bool:
    cur.execute("select to_regclass(%s) is not null", (relation,))
    return bool(cur.fetchone()[0])


def _columns(cur, relation: str) -> set[str]:
    schema, name = relation.split(".")
    cur.execute(
        "select column_name from information_schema.columns where table_schema = %s and table_name = %s",
        (schema, name),
    )
    return {r[0] for r in cur.fetchall()}


def _query(cur, sql: str, params: tuple = ()) -> Table:
    cur.execute(sql, params)
    return Table([c.name for c in cur.description], [tuple(r) for r in cur.fetchall()])


def _pick(cols: set[str], wanted: list[str]) -> str:
    """The wanted columns that exist, in order (the ledger marts are still growing columns)."""
    present = [c for c in wanted if c in cols]
    return ", ".join(present) if present else "*"


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
    if not _exists(cur, "marts.bars_daily"):
        return None
    cur.execute("select max(d) from marts.bars_daily")
    return cur.fetchone()[0]


def resolve_run_id(cur, run_id: str | None) -> str | None:
    if run_id:
        return run_id
    cur.execute("select run_id from ops.job_log order by started_at desc limit 1")
    row = cur.fetchone()
    return row[0] if row else None


# ---------------------------------------------------------------------------------------------------
# Sections


def market_gate(cur, d: dt.date) -> Section:
    s = Section("market_gate", "Market gate")
    if not _exists(cur, "marts.market_state"):
        return s.unavailable("not available: market_state is not built yet")
    cols = _columns(cur, "marts.market_state")
    wanted = ["d", "filter_symbol", "close", "sma", "bull_gate", "n_buy_candidates", "n_blocked_by_gate"]
    t = _query(cur, f"select {_pick(cols, wanted)} from marts.market_state where d = %s", (d,))
    if not t.rows:
        return s.unavailable(f"not available: no market_state row for {d}")
    row = dict(zip(t.columns, t.rows[0], strict=True))
    gate = row.get("bull_gate")
    state = "OPEN (buys allowed)" if gate else "CLOSED (new buys blocked)"
    s.lines.append(
        f"Gate {state}: {row.get('filter_symbol', 'SPY')} close {_money(row.get('close'))} vs SMA "
        f"{_money(row.get('sma'))}."
    )
    if "n_buy_candidates" in row:
        s.lines.append(
            f"{row.get('n_buy_candidates')} buy candidates, {row.get('n_blocked_by_gate', 0)} blocked by the gate."
        )
    s.tables.append((None, t))
    return s


def market_chart(cur, d: dt.date) -> Section:
    s = Section("market_chart", "Market filter symbol")
    symbol = os.environ.get("RT_MARKET_FILTER_SYMBOL") or "SPY"
    n = int(os.environ.get("RT_MARKET_FILTER_SMA") or 200)
    if not _exists(cur, "marts.bars_daily"):
        return s.unavailable("not available: bars_daily is not built yet")
    cur.execute(
        """
        with bars as (
            select d, coalesce(adj_close, close) as px from marts.bars_daily where symbol = %s and d <= %s
        ),
        smas as (
            select
                d,
                px,
                case when count(*) over w = %s then avg(px) over w end as sma,
                row_number() over (order by d desc) as back
            from bars
            window w as (order by d rows between %s preceding and current row)
        )
        select d, px, sma from smas where back <= 300 order by d
        """,
        (symbol, d, n, n - 1),
    )
    rows = cur.fetchall()
    if len(rows) < 2:
        return s.unavailable(f"not available: fewer than 2 bars of {symbol} up to {d}")
    s.images.append(
        (
            f"{symbol} close and SMA{n}",
            charts.price_with_sma(
                symbol, [r[0] for r in rows], [float(r[1]) for r in rows], [_num(r[2]) for r in rows]
            ),
        )
    )
    last = rows[-1]
    s.lines.append(f"{symbol} close {_money(last[1])} on {last[0]}; SMA{n} {_money(last[2])}.")
    return s


def signals(cur, d: dt.date) -> Section:
    s = Section("signals", "Signals by strategy and direction")
    if not _exists(cur, "marts.signals_daily"):
        return s.unavailable("not available: signals_daily is not built yet")
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
        return s.unavailable(f"not available: no signals for {d}")
    s.tables.append((None, t))
    cols = _columns(cur, "marts.signals_daily")
    if "strength" in cols:
        top = _query(
            cur,
            "select symbol, strength from marts.signals_daily "
            "where d = %s and strategy = 'COMBINED' and direction = 'buy' "
            "order by strength desc nulls last, symbol limit 10",
            (d,),
        )
        if top.rows:
            s.tables.append(("Strongest combined buys", top))
    return s


def orders(cur, d: dt.date) -> Section:
    s = Section("orders", "Orders placed and blocked")
    if not _exists(cur, "marts.orders_eod"):
        return s.unavailable("not available: orders_eod is not built yet")
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
        return s.unavailable(f"no orders for {d} (none proposed, or the ledger has not reached this day)")
    placed = sum(r[3] for r in t.rows)
    blocked = sum(r[2] - r[3] for r in t.rows)
    s.lines.append(f"{placed} orders placed for the next open; {blocked} candidates blocked.")
    s.tables.append(("By side and reason", t))
    cols = _columns(cur, "marts.orders_eod")
    detail = _query(
        cur,
        f"select {_pick(cols, ['rank', 'symbol', 'side', 'qty', 'ref_price', 'reason', 'strategy'])} "
        "from marts.orders_eod where d = %s and qty > 0 order by side desc, rank nulls last, symbol limit 50",
        (d,),
    )
    if detail.rows:
        s.tables.append(("Placed orders", detail))
    return s


def fills_and_stops(cur, d: dt.date) -> Section:
    s = Section("fills", "Fills and stops")
    have_fills = _exists(cur, "marts.fills")
    have_events = _exists(cur, "marts.symbol_events")
    if not have_fills and not have_events:
        return s.unavailable("not available: fills and symbol_events are not built yet")
    if have_fills:
        t = _query(
            cur,
            "select side, status, count(*) as n, sum(qty) as qty, sum(qty * price) as value "
            "from marts.fills where d = %s group by side, status order by side, status",
            (d,),
        )
        if t.rows:
            s.tables.append(("Fills at today's open", t))
            detail = _query(
                cur,
                "select symbol, side, qty, price, status from marts.fills where d = %s order by side, symbol",
                (d,),
            )
            s.tables.append(("Fill detail", Table(detail.columns, detail.rows[:50])))
        else:
            s.lines.append(f"No fills on {d}.")
    if have_events:
        t = _query(
            cur,
            "select symbol, event from marts.symbol_events where d = %s and event = 'STOP_HIT' order by symbol",
            (d,),
        )
        s.lines.append(f"{len(t.rows)} stop(s) hit on {d}." if t.rows else f"No stops hit on {d}.")
        if t.rows:
            s.tables.append(("Stops hit", t))
    return s


def positions(cur, d: dt.date) -> Section:
    s = Section("positions", "Positions")
    if not _exists(cur, "marts.positions_daily"):
        return s.unavailable("not available: positions_daily is not built yet")
    cols = _columns(cur, "marts.positions_daily")
    wanted = ["symbol", "sector", "qty", "entry_d", "entry_price", "stop_price", "close", "market_value"]
    t = _query(
        cur,
        f"select {_pick(cols, wanted)} from marts.positions_daily where d = %s "
        "order by market_value desc nulls last, symbol",
        (d,),
    )
    if not t.rows:
        return s.unavailable(f"no open positions on {d}")
    mv = t.columns.index("market_value") if "market_value" in t.columns else None
    total = sum(_num(r[mv]) or 0 for r in t.rows) if mv is not None else None
    s.lines.append(f"{len(t.rows)} open positions" + (f", market value {_money(total)}." if total else "."))
    s.tables.append((None, Table(t.columns, t.rows[:50])))
    return s


def sector_exposure(cur, d: dt.date) -> Section:
    s = Section("sectors", "Sector exposure against the cap")
    if not _exists(cur, "marts.sector_exposure_daily"):
        return s.unavailable("not available: sector_exposure_daily is not built yet")
    cap = sector_cap()
    t = _query(
        cur,
        "select sector, market_value, weight from marts.sector_exposure_daily where d = %s "
        "order by weight desc nulls last, sector",
        (d,),
    )
    if not t.rows:
        return s.unavailable(f"no sector exposure on {d} (no positions)")
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
    return s


def equity(cur, d: dt.date) -> Section:
    s = Section("equity", "Equity curve and drawdown")
    if not _exists(cur, "marts.portfolio_daily"):
        return s.unavailable("not available: portfolio_daily is not built yet")
    t = _query(
        cur,
        "select d, cash, equity, gross_exposure, daily_return, drawdown from marts.portfolio_daily "
        "where d <= %s order by d",
        (d,),
    )
    if not t.rows:
        return s.unavailable(f"not available: the ledger has no day up to {d}")
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
    return s


def data_quality(cur, d: dt.date) -> Section:
    s = Section("data_quality", "Data quality")
    ratio, session, missing = completeness(cur)
    if ratio is not None:
        s.lines.append(
            f"Completeness of {session}: {_pct(ratio)} of the active universe has a bar"
            + (
                f"; missing {len(missing)}: {', '.join(missing[:20])}" + (" ..." if len(missing) > 20 else "")
                if missing
                else "."
            )
        )
    if _exists(cur, "marts.bars_daily"):
        cur.execute("select count(*) from marts.bars_daily where d = %s", (d,))
        s.lines.append(f"{cur.fetchone()[0]} clean bars on {d}.")
    if _exists(cur, "marts.bars_quarantine"):
        t = _query(
            cur,
            "select reason, count(*) as bars, string_agg(distinct symbol, ', ') as symbols "
            "from marts.bars_quarantine where d = %s group by reason order by bars desc",
            (d,),
        )
        cur.execute("select count(*) from marts.bars_quarantine")
        s.lines.append(f"{sum(r[1] for r in t.rows)} bars quarantined on {d} ({cur.fetchone()[0]} in total).")
        if t.rows:
            s.tables.append(("Quarantined on this session", t))
    else:
        s.lines.append("bars_quarantine: not available.")
    if _exists(cur, "marts.bar_source_discrepancies"):
        cur.execute("select count(*) from marts.bar_source_discrepancies where d = %s", (d,))
        s.lines.append(f"{cur.fetchone()[0]} FMP/Yahoo close discrepancies on {d}.")
    # dbt's own verdicts (last build) and the stored failures an analyst can query in schema dq.
    try:
        results = json.loads((dbt_target_path() / "run_results.json").read_text())
        statuses: dict[str, int] = {}
        failing = []
        for r in results.get("results", []):
            if r.get("unique_id", "").startswith("test."):
                statuses[r["status"]] = statuses.get(r["status"], 0) + 1
                if r["status"] in ("fail", "warn", "error"):
                    failing.append((r["unique_id"].split(".")[2], r["status"], r.get("failures")))
        generated = results.get("metadata", {}).get("generated_at", "?")
        s.lines.append(
            f"dbt tests in the last build ({generated}): " + ", ".join(f"{k} {v}" for k, v in sorted(statuses.items()))
        )
        if failing:
            s.tables.append(("Tests that did not pass", Table(["test", "status", "failing_rows"], failing[:50])))
    except (OSError, ValueError):
        s.lines.append("dbt run results: not available (no build in this target path yet).")
    cur.execute("select table_name from information_schema.tables where table_schema = 'dq' order by table_name")
    tables = [r[0] for r in cur.fetchall()]
    stored = []
    for name in tables:
        cur.execute(f'select count(*) from dq."{name}"')  # names come from the catalog
        n = cur.fetchone()[0]
        if n:
            stored.append((f"dq.{name}", n))
    if tables:
        s.lines.append(f"{len(stored)} of {len(tables)} stored test tables in schema dq have failing rows.")
    if stored:
        s.tables.append(("Stored failures (schema dq)", Table(["table", "rows"], stored)))
    return s


def job_timings(cur, run_id: str | None) -> Section:
    s = Section("jobs", "Job timings")
    if not run_id:
        return s.unavailable("not available: job_log is empty")
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
        return s.unavailable(f"not available: no job_log rows for run {run_id}")
    s.lines.append(f"Run {run_id}.")
    s.tables.append((None, t))
    done = [(r[0], float(r[3])) for r in t.rows if r[3] is not None]
    if done:
        s.images.append(("Job timings", charts.job_timings([j for j, _ in done], [x for _, x in done])))
    return s


def alerts_section(cur, run_id: str | None) -> Section:
    s = Section("alerts", "Alerts")
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
    return s


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


def build_report(conn, session: dt.date | None = None, run_id: str | None = None) -> Report:
    """Every section for one session; sections that cannot be built say why."""
    with conn.cursor() as cur:
        d = resolve_session(cur, session)
        rid = resolve_run_id(cur, run_id)
        steps: list = []
        sections: list[Section] = []
        if d is None:
            sections.append(Section("bars", "Bars").unavailable("not available: bars_daily is empty or not built"))
        else:
            for fn in (market_gate, market_chart, signals, orders, fills_and_stops, positions, sector_exposure):
                steps.append((fn, d))
            steps += [(equity, d), (data_quality, d)]
        steps += [(job_timings, rid), (alerts_section, rid)]
        for fn, arg in steps:
            try:
                sections.append(fn(cur, arg))
            except Exception as exc:  # noqa: BLE001 - one broken mart must not sink the report
                conn.rollback()
                sections.append(Section(fn.__name__, fn.__name__.replace("_", " ")).unavailable(f"error: {exc}"))
    return Report(
        session=d,
        run_id=rid,
        generated_at=dt.datetime.now().astimezone(),
        sections=[summary(sections, d, rid), *sections],
    )
