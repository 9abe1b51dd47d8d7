"""Which rule settings the stored decisions were built with, and which of them are no longer current.

signals_decided and market_state are incremental and their rows depend on settings (RT_RSI_BUY, the market
filter, ...). Each records the settings it was built with in its table comment, as a last line
`rule settings: {json}` (dbt_project/macros/analytics/rule_settings.sql, which also recomputes the whole
table at the next build when they changed). A job that reads those tables without building them (the
backtest without --with-inputs) asks `stale_rule_settings` first, so a changed setting is never silently
ignored.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from rapidtrader.db import DbUrl, connect

# table -> the vars its rows depend on; the same names as rt_signal_rule_settings() and
# rt_market_rule_settings() record (tests/indicators/test_rule_settings.py checks them against a build)
RULE_TABLES: dict[str, tuple[str, ...]] = {
    "marts.signals_decided": (
        "rt_rsi_buy",
        "rt_rsi_sell",
        "rt_enable_signal_confirm",
        "rt_confirm_window",
        "rt_confirm_min_count",
        "rt_sma_fast",
        "rt_sma_slow",
        "rt_sma_confirm_days",
        "rt_float_tolerance",
    ),
    "marts.market_state": (
        "rt_market_filter_symbol",
        "rt_market_filter_sma",
        "rt_market_filter_enable",
        "rt_float_tolerance",
    ),
}

_RECORD = re.compile(r"rule settings: (\{.*\})\s*$", re.DOTALL)
NOT_RECORDED = object()


@dataclass(frozen=True)
class StaleSetting:
    """One setting whose stored value differs from the current one, and the tables built with the old one."""

    var: str
    stored: Any  # NOT_RECORDED when the table records none
    current: Any
    tables: tuple[str, ...]

    def describe(self) -> str:
        names = ", ".join(t.split(".")[-1] for t in self.tables)
        return f"{self.var.upper()} stored {_show(self.stored)} current {_show(self.current)} ({names})"


def _show(value: Any) -> str:
    if value is NOT_RECORDED:
        return "none recorded"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _same(stored: Any, current: Any) -> bool:
    """Equal as the model reads them: numbers by value (30 == 30.0), everything else as text."""
    if isinstance(stored, int | float) and not isinstance(stored, bool):
        try:
            return float(current) == float(stored)
        except (TypeError, ValueError):
            return False
    return str(current) == str(stored)


def parse_record(comment: str | None) -> dict[str, Any] | None:
    """The settings recorded in a table comment, or None when it records none."""
    found = _RECORD.search(comment or "")
    if not found:
        return None
    try:
        record = json.loads(found.group(1))
    except json.JSONDecodeError:
        return None
    return record if isinstance(record, dict) else None


def recorded_settings(url: DbUrl) -> dict[str, dict[str, Any] | None]:
    """table -> its recorded settings (None: none recorded); a table that does not exist is left out."""
    conn = connect(url)
    try:
        with conn.cursor() as cur:
            out: dict[str, dict[str, Any] | None] = {}
            for table in RULE_TABLES:
                cur.execute(
                    "select to_regclass(%s) is not null, obj_description(to_regclass(%s), 'pg_class')", [table] * 2
                )
                exists, comment = cur.fetchone()
                if exists:
                    out[table] = parse_record(comment)
            return out
    finally:
        conn.close()


def stale_settings(recorded: Mapping[str, dict[str, Any] | None], current: Mapping[str, Any]) -> list[StaleSetting]:
    """The settings whose recorded value differs from `current` (dbt vars), one entry per setting and value."""
    found: dict[tuple[str, str, str], list[str]] = {}
    values: dict[tuple[str, str, str], tuple[Any, Any]] = {}
    for table, record in recorded.items():
        for var in RULE_TABLES[table]:
            stored = NOT_RECORDED if record is None or var not in record else record[var]
            if stored is not NOT_RECORDED and _same(stored, current[var]):
                continue
            key = (var, _show(stored), _show(current[var]))
            found.setdefault(key, []).append(table)
            values[key] = (stored, current[var])
    return [StaleSetting(key[0], *values[key], tuple(tables)) for key, tables in found.items()]
