"""Write dbt_project/seeds/trading_calendar.csv: every calendar day 2000-01-01..2030-12-31 with NYSE
session flags, from the maintained `exchange_calendars` XNYS calendar (holidays, early closes and the
ad-hoc closures such as 2001-09-11 and 2012-10-29 included), never a hand-made list.

    python scripts/generate_trading_calendar.py [--out PATH] [--start 2000-01-01] [--end 2030-12-31]

Re-run it when exchange_calendars is upgraded (new holidays are announced a year or so ahead) and
commit the CSV; `dbt seed --select trading_calendar` loads it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rapidtrader.settings import fail_fast  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "dbt_project" / "seeds" / "trading_calendar.csv"


def build(start: str, end: str) -> pd.DataFrame:
    """One row per calendar day: is_session, is_early_close, session_number (1 = first session)."""
    import exchange_calendars as xcals

    cal = xcals.get_calendar("XNYS", start=start, end=end)
    days = pd.date_range(start, end, freq="D")
    sessions = cal.sessions  # the calendar's own bounds: first/last session inside [start, end]
    early = cal.early_closes
    frame = pd.DataFrame({"d": days})
    frame["is_session"] = frame["d"].isin(sessions)
    frame["is_early_close"] = frame["d"].isin(early)
    frame["session_number"] = frame["is_session"].cumsum().where(frame["is_session"])
    frame["session_number"] = frame["session_number"].astype("Int64")
    frame["d"] = frame["d"].dt.strftime("%Y-%m-%d")
    return frame


@fail_fast
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--start", default="2000-01-01")
    parser.add_argument("--end", default="2030-12-31")
    args = parser.parse_args(argv)
    try:
        frame = build(args.start, args.end)
    except ImportError:
        print("error: exchange_calendars is not installed; run `make setup`", file=sys.stderr)
        return 2
    args.out.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(args.out, index=False)
    n_sessions = int(frame["is_session"].sum())
    print(f"wrote {len(frame):,} days ({n_sessions:,} NYSE sessions) {args.start}..{args.end} to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
