"""RapidTrader: the pieces that are neither dlt nor dbt (settings, database bootstrap, jobs, logging)."""

from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
