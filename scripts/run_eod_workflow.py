"""The runbook's full EOD workflow: ingest -> dbt build -> report (same as `make eod`).

python scripts/run_eod_workflow.py [--demo] [--source sample|fmp|yfinance] [--days N]
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rapidtrader.jobs.eod import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
