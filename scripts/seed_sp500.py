"""Load the S&P 500 universe with sectors (the runbook's `python scripts/seed_sp500.py`).

From FMP when RT_FMP_API_KEY is set (or --source fmp), else from the bundled 2018-04-02 snapshot in
RT_SAMPLE_DIR (or --source sample). Loads only the constituent list (and the rows the door refused),
through dlt, into raw_<source>.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ingestion.common import FetchReport, IngestionError, run_pipeline  # noqa: E402
from rapidtrader.db import DatabaseError, resolve_db_url  # noqa: E402
from rapidtrader.jobs.eod_ingest import ingest_config  # noqa: E402
from rapidtrader.settings import fail_fast, get_settings  # noqa: E402


@fail_fast
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--source", choices=["fmp", "sample"])
    args = parser.parse_args(argv)
    s = get_settings()
    config = ingest_config(s)
    source = args.source or ("fmp" if s.fmp_api_key else "sample")
    try:
        url = resolve_db_url(s).with_password()
        report = FetchReport(source=source)
        if source == "fmp":
            from ingestion.fmp import fmp_source

            # Only the list: rows the door refuses are reported below and stored by the next full FMP load.
            src = fmp_source(
                None, lambda syms: {}, report, api_key=config.fmp_api_key, settings=config.fmp
            ).with_resources("constituents")
        else:
            from ingestion.sample import sample_source

            src = sample_source(
                folder=config.sample_dir, windows_fn=lambda syms, anchor=None: {}, report=report, include_bars=False
            ).with_resources("constituents", "rejects")
        rows = run_pipeline(
            src,
            credentials=url.url,
            dataset_name=f"raw_{source}",
            pipeline_name=f"rt_{source}",
            progress=config.progress,
            secrets=(config.fmp_api_key,),
        )
    except (IngestionError, DatabaseError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    n = rows.get("constituents", 0)
    print(f"loaded {n} constituents from {source} into raw_{source}.constituents")
    rejects = report.reject_line(f"raw_{source}")
    if rejects:
        print(rejects)
    return 0 if n > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
