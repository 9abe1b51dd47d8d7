"""Data-quality checks for one session: `python scripts/validate_data.py --date yesterday|YYYY-MM-DD`.

The runbook's thresholds (share of the session's expected bars; settings in brackets):
- coverage: active symbols with a clean bar; WARN under 99%, FAIL under 98% (RT_ALERT_COMPLETENESS_*)
- missing OHLCV points: quarantined for missing/non-positive values; FAIL at 1% or more
- price anomalies: |close / previous close - 1| above RT_SPIKE_PCT (0.25), or quarantined for a range
  problem (high < low, close outside [low, high]); FAIL at 0.1% or more
- volume anomalies: zero volume or more than 10x the symbol's 20-session median; FAIL at 0.5% or more
Each failing check lists the offending symbols. Exit 1 when any check FAILs. `yesterday` means the newest
session in bars_daily on or before yesterday (weekends and holidays have none).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rapidtrader.alerts import Thresholds  # noqa: E402
from rapidtrader.db import DatabaseError, connect, resolve_db_url  # noqa: E402

MISSING_REASONS = ("missing", "null", "non_positive", "nonpositive", "zero")
RANGE_REASONS = ("high_lt_low", "high < low", "outside", "range")


def session_for(cur, text: str) -> dt.date | None:
    if text in ("yesterday", "latest"):
        limit = dt.date.today() - dt.timedelta(days=1) if text == "yesterday" else dt.date.max
        cur.execute("select max(d) from marts.bars_daily where d <= %s", (limit,))
        return cur.fetchone()[0]
    return dt.date.fromisoformat(text)


def _exists(cur, name: str) -> bool:
    cur.execute("select to_regclass(%s) is not null", (name,))
    return bool(cur.fetchone()[0])


def validate(cur, d: dt.date) -> list[tuple[str, str, str, list[str]]]:
    """(check, status OK/WARN/FAIL, detail, offending symbols)."""
    t = Thresholds()
    spike = float(os.environ.get("RT_SPIKE_PCT") or 0.25)
    out = []
    cur.execute("select count(*) from marts.symbols where is_active")
    universe = cur.fetchone()[0]
    cur.execute(
        "select s.symbol from marts.symbols as s left join marts.bars_daily as b on b.symbol = s.symbol and b.d = %s "
        "where s.is_active and b.symbol is null order by 1",
        (d,),
    )
    missing = [r[0] for r in cur.fetchall()]
    cov = (universe - len(missing)) / universe if universe else 0.0
    status = "FAIL" if cov < t.completeness_critical else "WARN" if cov < t.completeness_warn else "OK"
    out.append(("coverage", status, f"{cov:.2%} of {universe} active symbols have a bar", missing))
    cur.execute("select count(*) from marts.bars_daily where d = %s", (d,))
    bars = cur.fetchone()[0]
    expected = max(bars, universe, 1)

    quarantined: list[tuple[str, str]] = []
    if _exists(cur, "marts.bars_quarantine"):
        cur.execute("select symbol, coalesce(reason, '') from marts.bars_quarantine where d = %s", (d,))
        quarantined = cur.fetchall()
    null_bars = []
    cur.execute(
        "select symbol from marts.bars_daily where d = %s and (open is null or high is null or low is null "
        "or close is null or volume is null) order by 1",
        (d,),
    )
    null_bars = [r[0] for r in cur.fetchall()]
    miss = sorted({s for s, r in quarantined if any(k in r.lower() for k in MISSING_REASONS)} | set(null_bars))
    share = len(miss) / expected
    out.append(("missing_ohlcv", "FAIL" if share >= 0.01 else "OK", f"{share:.2%} of bars (limit 1%)", miss))

    cur.execute(
        """
        with prev as (
            select symbol, d, coalesce(adj_close, close) as px,
                   lag(coalesce(adj_close, close)) over (partition by symbol order by d) as prev_px
            from marts.bars_daily
            where d between %s - 10 and %s
        )
        select symbol from prev where d = %s and prev_px > 0 and abs(px / prev_px - 1) > %s order by 1
        """,
        (d, d, d, spike),
    )
    jumps = [r[0] for r in cur.fetchall()]
    ranged = [s for s, r in quarantined if any(k in r.lower() for k in RANGE_REASONS)]
    price = sorted(set(jumps) | set(ranged))
    share = len(price) / expected
    out.append(("price_anomalies", "FAIL" if share >= 0.001 else "OK", f"{share:.3%} of bars (limit 0.1%)", price))

    cur.execute(
        """
        with recent as (
            select symbol, volume, d from marts.bars_daily where d between %s - 45 and %s
        ),
        med as (
            select symbol, percentile_cont(0.5) within group (order by volume) as median_volume
            from recent where d < %s group by symbol
        )
        select r.symbol from recent as r left join med as m using (symbol)
        where r.d = %s and (r.volume = 0 or (m.median_volume > 0 and r.volume > 10 * m.median_volume))
        order by 1
        """,
        (d, d, d, d),
    )
    vol = [r[0] for r in cur.fetchall()]
    share = len(vol) / expected
    out.append(("volume_anomalies", "FAIL" if share >= 0.005 else "OK", f"{share:.2%} of bars (limit 0.5%)", vol))
    out.append(
        (
            "quarantine",
            "OK",
            f"{len(quarantined)} bars quarantined on this session (kept out of bars_daily)",
            sorted({f"{s} ({r})" for s, r in quarantined}),
        )
    )
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--date", default="yesterday", help="yesterday (default), latest, or YYYY-MM-DD")
    args = parser.parse_args(argv)
    try:
        conn = connect(resolve_db_url())
    except DatabaseError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    try:
        with conn.cursor() as cur:
            if not (_exists(cur, "marts.bars_daily") and _exists(cur, "marts.symbols")):
                print("error: bars_daily/symbols not built; run `make eod` (or `make demo`) first", file=sys.stderr)
                return 1
            d = session_for(cur, args.date)
            if d is None:
                print(f"error: no session in bars_daily for --date {args.date}; load data first", file=sys.stderr)
                return 1
            results = validate(cur, d)
    except ValueError as exc:
        print(f"error: {exc}; use --date yesterday or YYYY-MM-DD", file=sys.stderr)
        return 1
    finally:
        conn.close()
    print(f"data quality of session {d}")
    for name, status, detail, symbols in results:
        shown = ", ".join(symbols[:25]) + (f" ... (+{len(symbols) - 25})" if len(symbols) > 25 else "")
        print(f"{status:<5} {name:<17} {detail}" + (f": {shown}" if symbols else ""))
    failed = [r[0] for r in results if r[1] == "FAIL"]
    print("result: " + (f"FAIL ({', '.join(failed)})" if failed else "OK"))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
