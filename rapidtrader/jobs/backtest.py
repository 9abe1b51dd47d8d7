"""Backtest: run the paper ledger's SQL over history and print the report.

    python -m rapidtrader.jobs.backtest --start 2013-02-08 --end 2018-02-07 [--capital 100000]
    make backtest START=2013-02-08 END=2018-02-07

It builds the dbt models tagged `backtest` (backtest_ledger -> backtest_daily, backtest_trades,
backtest_summary) with RT_BACKTEST_START/RT_BACKTEST_END set in dbt's environment (not as vars: a changed var
would make dbt parse the whole project again), i.e. the same plpgsql step as the nightly
ledger, started from RT_START_CAPITAL on the first day with bars on or after START, then prints
backtest_summary: the strategy next to RT_BENCHMARK_SYMBOL (SPY) bought and held. The nightly paper
ledger (ledger and its marts) is not touched. The inputs (bars_daily, signals_daily, market_state)
must be built already (`make eod` or `make demo`); `--with-inputs` builds them first. Without it, the
settings the stored signals and market state were built with must be the current ones (a changed
RT_RSI_BUY would otherwise report the strategy of the old value): the run stops and names them.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys

from rapidtrader import run_lock
from rapidtrader.db import DatabaseError, DbUrl, connect, resolve_db_url
from rapidtrader.dbt_runner import run_dbt
from rapidtrader.rule_settings import RULE_TABLES, recorded_settings, stale_settings
from rapidtrader.settings import dbt_vars, fail_fast

METRICS: list[tuple[str, str, str]] = [
    # (column of backtest_summary, label, format)
    ("first_d", "first day", "s"),
    ("last_d", "last day", "s"),
    ("n_days", "sessions", "d"),
    ("last_equity", "final equity", ",.2f"),
    ("total_return", "total return", "pct"),
    ("cagr", "CAGR", "pct"),
    ("ann_vol", "annualised volatility", "pct"),
    ("sharpe", "Sharpe (rf 0)", ".2f"),
    ("sortino", "Sortino (rf 0)", ".2f"),
    ("max_drawdown", "max drawdown", "pct"),
    ("win_rate", "win rate", "pct"),
    ("profit_factor", "profit factor", ".2f"),
    ("avg_exposure", "average exposure", "pct"),
    ("turnover", "turnover (x equity / year)", ".2f"),
    ("n_trades", "closed trades", "d"),
    ("n_open_trades", "open at the end", "d"),
    ("total_commission", "commission paid", ",.2f"),
    ("total_slippage", "slippage cost", ",.2f"),
    ("return_before_costs", "return before costs", "pct"),
    ("avg_coverage", "index covered by data (avg)", "pct"),
    ("min_coverage", "index covered by data (min)", "pct"),
]


class BacktestFailed(RuntimeError):
    pass


def _date(text: str) -> str:
    return dt.date.fromisoformat(text).isoformat()


def dbt_args(capital: float | None, with_inputs: bool) -> list[str]:
    """`dbt build` arguments of a backtest: a var only for a capital other than RT_START_CAPITAL."""
    selector = "+tag:backtest" if with_inputs else "tag:backtest"
    args = ["build", "--select", selector]
    if capital is not None:
        args += ["--vars", json.dumps({"rt_start_capital": str(capital)})]
    return args


def window_env(start: str, end: str | None) -> dict[str, str]:
    """The backtest window as the backtest models read it (macros/trading/backtest_window.sql)."""
    return {"RT_BACKTEST_START": start, "RT_BACKTEST_END": end or ""}


def fetch_summary(url: DbUrl) -> list[dict]:
    conn = connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute("select * from marts.backtest_summary order by portfolio <> 'strategy', portfolio")
            names = [c.name for c in cur.description]
            return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
    finally:
        conn.close()


def _fmt(value: object, fmt: str) -> str:
    if value is None:
        return "-"
    if fmt == "pct":
        return f"{float(value) * 100:.2f}%"
    if fmt == "s":
        return str(value)
    if fmt == "d":
        return f"{int(value)}"
    return format(float(value), fmt)


def render(rows: list[dict]) -> str:
    """A two-column table: metric, then one column per portfolio (strategy first)."""
    headers = ["metric", *[r["portfolio"] for r in rows]]
    table = [[label, *[_fmt(r[col], fmt) for r in rows]] for col, label, fmt in METRICS]
    widths = [max(len(str(x)) for x in column) for column in zip(headers, *table, strict=True)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in table]
    return "\n".join(lines)


def check_inputs(url: DbUrl) -> None:
    """Stop when the stored signals or market state were built with other settings than the current ones:
    the backtest builds only its own models over them, so it would report the old rule under the new name."""
    recorded = recorded_settings(url)
    missing = [table for table in RULE_TABLES if table not in recorded]
    if missing:
        raise BacktestFailed(
            f"{', '.join(missing)} not built yet: run `make eod` (or `make demo`) first, or pass --with-inputs"
        )
    stale = stale_settings(recorded, dbt_vars())
    if stale:
        raise BacktestFailed(
            "the stored signals and market state were built with other settings: "
            + "; ".join(s.describe() for s in stale)
            + ". Rerun `python -m rapidtrader.jobs.backtest` with the same arguments and --with-inputs to "
            "recompute them with the current settings (this rewrites the nightly tables signals_decided and "
            "market_state), or use `make sweep` to try settings without touching them"
        )


def run(url: DbUrl, start: str, end: str | None, capital: float | None = None, with_inputs: bool = False) -> str:
    """Build the backtest models and return the printed report."""
    args = dbt_args(capital, with_inputs)
    with run_lock.hold(url, "backtest"):
        if not with_inputs:
            check_inputs(url)
        result = run_dbt(args, url, env=window_env(start, end))
    if result.returncode != 0:
        raise BacktestFailed(
            f"`dbt {' '.join(args)}` exited {result.returncode}: see the dbt output above "
            "(inputs missing? run `make demo` or `make eod` first, or pass --with-inputs)"
        )
    rows = fetch_summary(url)
    if not rows:
        raise BacktestFailed(f"no ledger days in [{start}, {end or 'newest'}]: is there bar data in that window?")
    return render(rows)


@fail_fast
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--start", required=True, type=_date, help="first day (YYYY-MM-DD)")
    parser.add_argument("--end", type=_date, help="last day (YYYY-MM-DD; default the newest bars)")
    parser.add_argument("--capital", type=float, help="override RT_START_CAPITAL")
    parser.add_argument("--with-inputs", action="store_true", help="also build bars, indicators, signals")
    args = parser.parse_args(argv)
    if args.end and args.end < args.start:
        parser.error("--end is before --start")
    try:
        url = resolve_db_url()
        report = run(url, args.start, args.end, args.capital, args.with_inputs)
    except (DatabaseError, BacktestFailed) as exc:
        print(f"error: backtest failed: {exc}", file=sys.stderr)
        return 1
    print(
        f"\nBacktest {args.start} .. {args.end or 'newest'} (tables marts.backtest_summary, backtest_daily, "
        "backtest_trades)\n"
    )
    print(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
