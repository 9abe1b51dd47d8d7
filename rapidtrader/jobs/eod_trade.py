"""The trading step on its own: `python -m rapidtrader.jobs.eod_trade [--signals-only] [dbt args]`.

Rebuilds what sits downstream of the clean bars without re-ingesting: with --signals-only the indicator
and signal models (everything between bars_daily and signals_daily/market_state); without it also the
ledger (orders, fills, positions, portfolio). The runbook uses it after a data fix, or to re-run the
signals of a night whose ingestion already succeeded. Each invocation is one job_log step.
"""

from __future__ import annotations

import argparse
import sys

from rapidtrader.db import DatabaseError, resolve_db_url
from rapidtrader.dbt_runner import run_dbt
from rapidtrader.jobs import dbt_build
from rapidtrader.jobs.runner import new_run_id
from rapidtrader.settings import fail_fast

# dbt graph selectors. `a+,+b` is the intersection: descendants of a that are ancestors of b.
SIGNALS_SELECT = ["bars_daily+,+signals_daily", "bars_daily+,+market_state"]
TRADE_SELECT = ["bars_daily+"]
EXCLUDE = ["bars_daily"]


def dbt_args(signals_only: bool) -> list[str]:
    return ["--select", *(SIGNALS_SELECT if signals_only else TRADE_SELECT), "--exclude", *EXCLUDE]


class NothingToBuild(RuntimeError):
    pass


def selected_models(url, signals_only: bool) -> list[str]:
    """`dbt ls` of the selection: dbt itself exits 0 on an empty selection, which would hide a typo."""
    result = run_dbt(["ls", "--resource-type", "model", "--output", "name", *dbt_args(signals_only)], url, capture=True)
    names = [ln.strip() for ln in result.stdout.splitlines() if ln.strip() and " " not in ln.strip()]
    return names


def run(url, run_id: str, *, signals_only: bool = False, extra_args: list[str] | None = None) -> int:
    job = "eod_trade_signals" if signals_only else "eod_trade"
    models = selected_models(url, signals_only)
    if not models:
        raise NothingToBuild(
            "no signal models downstream of bars_daily in this project yet (signals_daily, market_state): "
            "pull the indicators/signals models, then re-run"
        )
    print(f"building {len(models)} models: {', '.join(models)}")
    return dbt_build.run(url, run_id, [*dbt_args(signals_only), *(extra_args or [])], job_name=job)


@fail_fast
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--signals-only", action="store_true", help="indicators and signals, not the ledger")
    args, extra = parser.parse_known_args(argv)
    try:
        url = resolve_db_url()
        code = run(url, new_run_id(), signals_only=args.signals_only, extra_args=extra)
    except (DatabaseError, dbt_build.DbtFailed, NothingToBuild) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print("signals rebuilt" if args.signals_only else "signals and ledger rebuilt")
    return code


if __name__ == "__main__":
    sys.exit(main())
