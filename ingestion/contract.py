"""The raw column contract, declared once: every raw table's columns, types and keys.

Every source (raw_sample, raw_fmp, raw_yfinance) writes these tables in exactly this shape. The Arrow
schemas and dlt column hints below are derived from it, and so is the dbt macro file that the staging
models read (dbt cannot import Python):

    python -m ingestion.contract > dbt_project/macros/raw_contract.sql

A test fails when that file differs from what this module generates.

- bars: one row per bar as the vendor sent it. Merge key (symbol, d, dup_seq): dup_seq is 0 for the first
  row a source sent for (symbol, d) and 1, 2, ... for repeats in the same load, so duplicates are kept for
  quarantine instead of being collapsed silently. `unreadable` names the fields whose value was present but
  not a number (a word, a true/false); they are stored as null and the bar is quarantined.
- corporate_actions: action 'split' (value = new shares per old share, 4.0 for 4:1) or 'dividend' (value =
  cash per share). Key (symbol, d, action).
- constituents: the S&P 500 list with sectors; replaced whole on every load (it is a snapshot).
- rejects: rows refused at the door (bad symbol, date that is not YYYY-MM-DD, unknown action, ...), kept
  as text with the reason so nothing is lost and nothing unsafe is stored: symbol_text and date_text as
  sent (escaped, cut to 32 characters), d when the date itself was readable, row_number (the CSV line or
  Parquet row), row_text (the row as `column=value` pairs, cut to 500 characters). Key reject_id.
- membership_events: S&P 500 membership changes, action 'added' or 'removed', named by today's ticker (the
  bundled pitindex data, FMP's historical constituent changes). Key (symbol, d, action). Replaced whole.
- membership_intervals: a user's own membership file, [added_d, removed_d) per symbol (removed_d null: still
  a member). Key (symbol, added_d). Replaced whole.
- ticker_changes: old_symbol traded as new_symbol from d on (d = the first day under new_symbol). Key
  (old_symbol, new_symbol). Replaced whole.
- source_ref is '<origin>:<detail>' everywhere (file:x.csv, fmp:/stable/..., pitindex:0.2.1): the part
  before ':' is where a row came from.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

import pyarrow as pa

# kind -> (Arrow type, dlt data_type, SQL type of the empty stand-in dbt uses for a table never loaded)
KINDS: dict[str, tuple[pa.DataType, str, str]] = {
    "text": (pa.string(), "text", "text"),
    "date": (pa.date32(), "date", "date"),
    "double": (pa.float64(), "double", "double precision"),
    "bigint": (pa.int64(), "bigint", "bigint"),
    "timestamp": (pa.timestamp("us", tz="UTC"), "timestamp", "timestamp with time zone"),
}


@dataclass(frozen=True)
class Column:
    name: str
    kind: str
    nullable: bool = True


@dataclass(frozen=True)
class RawTable:
    name: str
    columns: tuple[Column, ...]
    key: tuple[str, ...]

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    def arrow_schema(self) -> pa.Schema:
        return pa.schema([pa.field(c.name, KINDS[c.kind][0], nullable=c.nullable) for c in self.columns])

    def dlt_columns(self) -> dict[str, dict]:
        """dlt column hints: exact types and the nullability of the contract."""
        return {c.name: {"data_type": KINDS[c.kind][1], "nullable": c.nullable} for c in self.columns}

    def sql_columns(self) -> list[tuple[str, str]]:
        return [(c.name, KINDS[c.kind][2]) for c in self.columns]


def _c(name: str, kind: str, nullable: bool = True) -> Column:
    return Column(name, kind, nullable)


BARS = RawTable(
    "bars",
    (
        _c("symbol", "text", nullable=False),
        _c("d", "date", nullable=False),
        _c("open", "double"),
        _c("high", "double"),
        _c("low", "double"),
        _c("close", "double"),
        _c("adj_close", "double"),
        _c("volume", "double"),
        _c("dup_seq", "bigint", nullable=False),
        _c("source_ref", "text"),
        _c("loaded_at", "timestamp"),
        _c("unreadable", "text"),
    ),
    key=("symbol", "d", "dup_seq"),
)

CORPORATE_ACTIONS = RawTable(
    "corporate_actions",
    (
        _c("symbol", "text", nullable=False),
        _c("d", "date", nullable=False),
        _c("action", "text", nullable=False),
        _c("value", "double"),
        _c("source_ref", "text"),
        _c("loaded_at", "timestamp"),
    ),
    key=("symbol", "d", "action"),
)

CONSTITUENTS = RawTable(
    "constituents",
    (
        _c("symbol", "text", nullable=False),
        _c("name", "text"),
        _c("sector", "text"),
        _c("sub_industry", "text"),
        _c("date_added", "date"),
        _c("source_ref", "text"),
        _c("loaded_at", "timestamp"),
    ),
    key=("symbol",),
)

REJECTS = RawTable(
    "rejects",
    (
        _c("reject_id", "text", nullable=False),
        _c("kind", "text", nullable=False),
        _c("symbol_text", "text"),
        _c("date_text", "text"),
        _c("d", "date"),
        _c("reason", "text", nullable=False),
        _c("detail", "text"),
        _c("row_number", "bigint"),
        _c("row_text", "text"),
        _c("source_ref", "text"),
        _c("loaded_at", "timestamp"),
    ),
    key=("reject_id",),
)

MEMBERSHIP_EVENTS = RawTable(
    "membership_events",
    (
        _c("symbol", "text", nullable=False),
        _c("d", "date", nullable=False),
        _c("action", "text", nullable=False),
        _c("source_ref", "text"),
        _c("loaded_at", "timestamp"),
    ),
    key=("symbol", "d", "action"),
)

MEMBERSHIP_INTERVALS = RawTable(
    "membership_intervals",
    (
        _c("symbol", "text", nullable=False),
        _c("added_d", "date", nullable=False),
        _c("removed_d", "date"),
        _c("source_ref", "text"),
        _c("loaded_at", "timestamp"),
    ),
    key=("symbol", "added_d"),
)

TICKER_CHANGES = RawTable(
    "ticker_changes",
    (
        _c("old_symbol", "text", nullable=False),
        _c("new_symbol", "text", nullable=False),
        _c("d", "date", nullable=False),
        _c("source_ref", "text"),
        _c("loaded_at", "timestamp"),
    ),
    key=("old_symbol", "new_symbol"),
)

TABLES: tuple[RawTable, ...] = (
    BARS,
    CORPORATE_ACTIONS,
    CONSTITUENTS,
    REJECTS,
    MEMBERSHIP_EVENTS,
    MEMBERSHIP_INTERVALS,
    TICKER_CHANGES,
)
BY_NAME: dict[str, RawTable] = {t.name: t for t in TABLES}

MACRO_HEADER = """\
{#-
    GENERATED from ingestion/contract.py by `python -m ingestion.contract > dbt_project/macros/raw_contract.sql`.
    Do not edit: change the contract and regenerate (tests/ingestion/test_contract.py fails when they differ).
    raw_columns(table_name): the raw table's columns as [name, SQL type] pairs, in contract order.
-#}
"""


def dbt_macros() -> str:
    """The dbt macro file that gives staging the raw contract."""
    lines = [MACRO_HEADER, "{% macro raw_columns(table_name) -%}", "    {%- set contract = {"]
    for i, table in enumerate(TABLES):
        lines.append(f'        "{table.name}": [')
        pairs = table.sql_columns()
        for j, (name, sql) in enumerate(pairs):
            lines.append(f'            ["{name}", "{sql}"]{"," if j < len(pairs) - 1 else ""}')
        lines.append("        ]" + ("," if i < len(TABLES) - 1 else ""))
    lines += [
        "    } -%}",
        "    {%- if table_name not in contract -%}",
        '        {{ exceptions.raise_compiler_error("raw_columns: no raw table named " ~ table_name) }}',
        "    {%- endif -%}",
        "    {{ return(contract[table_name]) }}",
        "{%- endmacro %}",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.stdout.write(dbt_macros())
