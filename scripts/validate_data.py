"""Data-quality checks of one session: `python scripts/validate_data.py --date yesterday|latest|YYYY-MM-DD`.

Runs the warehouse's own data-quality tests (dbt_project/tests/dq) for that session and prints dbt's
verdict on each with the rows the test stored: coverage of the session, missing OHLCV bars, price
anomalies and volume anomalies (over the RT_DQ_WINDOW_SESSIONS sessions that end on it) and stale symbols.
No rule and no threshold lives here: the tests define them, with their warn/error tiers from the RT_DQ_*
settings, exactly as in the nightly build. The rows go to schema dq_validate (the nightly's stay in dq).

`yesterday` is the newest session in bars_daily on or before yesterday (weekends and holidays have none),
`latest` the newest of all. Exit 1 when any check FAILs (dbt's error tier) or cannot run; WARN exits 0.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from psycopg2 import errors  # noqa: E402

from rapidtrader import dq  # noqa: E402
from rapidtrader.db import DatabaseError, DbUrl, connect, resolve_db_url  # noqa: E402
from rapidtrader.redact import guard_std_streams  # noqa: E402
from rapidtrader.settings import fail_fast  # noqa: E402

BLOCKING = ("FAIL", "ERROR", "NOT RUN")


class NoSession(RuntimeError):
    """No session to check; the message says how to get one."""


def session_for(url: DbUrl, text: str) -> dt.date:
    """The session `--date` names (a date, yesterday or latest), as bars_daily has it."""
    if text not in ("yesterday", "latest"):
        try:
            return dt.date.fromisoformat(text)
        except ValueError:
            raise NoSession(f"--date {text!r} is not a date; use --date yesterday, latest or YYYY-MM-DD") from None
    limit = dt.date.today() - dt.timedelta(days=1) if text == "yesterday" else dt.date.max
    conn = connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute("select max(d) from marts.bars_daily where d <= %s", (limit,))
            found = cur.fetchone()[0]
    except errors.UndefinedTable:
        raise NoSession("bars_daily is not built; run `make eod` (or `make demo`) first") from None
    finally:
        conn.close()
    if found is None:
        raise NoSession(f"no session in bars_daily for --date {text}; load data first (`make eod`)")
    return found


def quarantined(url: DbUrl, d: dt.date) -> list[str]:
    """What bars_quarantine kept out of bars_daily on the session (a fact, listed with the verdicts)."""
    conn = connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute("select symbol, reason from marts.bars_quarantine where d = %s order by 1, 2", (d,))
            return [f"{s} ({r})" for s, r in cur.fetchall()]
    except errors.UndefinedTable:
        return []
    finally:
        conn.close()


def _shown(items: list[str], limit: int = 25) -> str:
    return ", ".join(items[:limit]) + (f" ... (+{len(items) - limit})" if len(items) > limit else "")


def print_results(d: dt.date, results: list[dq.DqResult], quarantine: list[str]) -> list[str]:
    """One line per check; returns the checks that block (FAIL, ERROR, NOT RUN)."""
    print(f"data quality of session {d} (dbt tests in dbt_project/tests/dq; tiers from the RT_DQ_* settings)")
    for r in results:
        symbols = r.symbols
        print(f"{r.level:<5} {r.check.key:<17} {r.summary()}" + (f": {_shown(symbols)}" if symbols else ""))
    print(
        f"{'INFO':<5} {'quarantine':<17} {len(quarantine)} bars kept out of bars_daily on this session"
        + (f": {_shown(quarantine)}" if quarantine else "")
    )
    blocking = [r.check.key for r in results if r.level in BLOCKING]
    print("result: " + (f"FAIL ({', '.join(blocking)})" if blocking else "OK"))
    return blocking


@fail_fast
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--date", default="yesterday", help="yesterday (default), latest, or YYYY-MM-DD")
    args = parser.parse_args(argv)
    guard_std_streams()
    try:
        url = resolve_db_url()
        d = session_for(url, args.date)
        results = dq.run_for_session(url, d)
        quarantine = quarantined(url, d)
    except (DatabaseError, NoSession, dq.DqRunFailed) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 1 if print_results(d, results, quarantine) else 0


if __name__ == "__main__":
    sys.exit(main())
