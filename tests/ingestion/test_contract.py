"""ingestion/ is a leaf, and the raw column contract is declared once.

- No module under ingestion/ imports rapidtrader (parsed, not grepped), nor reads an RT_* variable.
- The ticker rule of ingestion/symbols.py is the one in rapidtrader.settings.
- dbt_project/macros/raw_contract.sql is exactly what ingestion.contract generates, and the staging
  macros read it; the Arrow schemas are the contract's.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

from ingestion import common, contract, symbols
from rapidtrader import PROJECT_ROOT
from rapidtrader.settings import TICKER_PATTERN

INGESTION = PROJECT_ROOT / "ingestion"
MACRO_FILE = PROJECT_ROOT / "dbt_project" / "macros" / "raw_contract.sql"


def _modules() -> list[Path]:
    return sorted(INGESTION.rglob("*.py"))


def _imports(path: Path) -> list[str]:
    names = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
        elif isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", "")) in (
            "import_module",
            "__import__",
        ):
            names += [a.value for a in node.args if isinstance(a, ast.Constant) and isinstance(a.value, str)]
    return names


def test_ingestion_imports_nothing_from_rapidtrader():
    assert len(_modules()) >= 10  # the walk really sees the package
    offenders = {
        str(path.relative_to(PROJECT_ROOT)): name
        for path in _modules()
        for name in _imports(path)
        if name == "rapidtrader" or name.startswith("rapidtrader.")
    }
    assert offenders == {}


def test_the_import_check_would_catch_an_import(tmp_path: Path):
    bad = tmp_path / "bad.py"
    bad.write_text("import os\nif True:\n    from rapidtrader.settings import get_settings\n")
    assert "rapidtrader.settings" in _imports(bad)


def test_ingestion_reads_no_rt_setting_from_the_environment():
    """Settings reach ingestion as arguments; an RT_ name may appear in help text, never in a read."""
    read = re.compile(r"(environ(\.get)?\s*[\[(]|getenv\s*\()\s*f?[\"']RT_")
    offenders = [str(p.relative_to(PROJECT_ROOT)) for p in _modules() if read.search(p.read_text())]
    assert offenders == []


def test_one_ticker_rule():
    assert symbols.TICKER_PATTERN == TICKER_PATTERN
    for good in ("AAPL", "BRK.B", "BF-B", "EURUSD=X", "A^B", "ABCDEFGHIJKLMNO"):
        assert symbols.is_valid(good), good
    for bad in ("X" * 10_000, "A\x00B", "A?X=1&Y=2", "A/../../B", "", "ABCDEFGHIJKLMNOP", "-A"):
        assert not symbols.is_valid(bad), bad


def test_generated_macro_file_is_current():
    generated = subprocess.run(
        [sys.executable, "-m", "ingestion.contract"], cwd=PROJECT_ROOT, capture_output=True, text=True, check=True
    ).stdout
    assert generated == contract.dbt_macros()
    assert MACRO_FILE.read_text() == generated, (
        "dbt_project/macros/raw_contract.sql is stale: run "
        "`python -m ingestion.contract > dbt_project/macros/raw_contract.sql`"
    )


def test_staging_reads_the_generated_contract():
    text = (PROJECT_ROOT / "dbt_project" / "macros" / "stage_raw.sql").read_text()
    assert "raw_columns(table_name)" in text
    source_or_empty = (PROJECT_ROOT / "dbt_project" / "macros" / "source_or_empty.sql").read_text()
    assert "raw_columns(table_name)" in source_or_empty
    for table in contract.TABLES:
        for name, sql_type in table.sql_columns():
            assert f'["{name}", "{sql_type}"]' in MACRO_FILE.read_text()


def test_membership_staging_reads_the_generated_contract():
    """The membership staging macros name only the table: its columns come from raw_columns()."""
    text = (PROJECT_ROOT / "dbt_project" / "macros" / "market_data" / "stage_membership.sql").read_text()
    calls = re.findall(r"source_or_empty\(([^)]*)\)", text)
    assert calls == [
        "source_name, 'membership_events'",
        "source_name, 'membership_intervals'",
        "source_name, 'ticker_changes'",
    ]
    assert {"membership_events", "membership_intervals", "ticker_changes"} <= set(contract.BY_NAME)


@pytest.mark.parametrize("table", contract.TABLES, ids=lambda t: t.name)
def test_arrow_schemas_and_dlt_hints_come_from_the_contract(table):
    assert table.arrow_schema().names == table.names
    assert list(table.dlt_columns()) == table.names
    assert set(table.key) <= set(table.names)
    for column in table.columns:
        if column.name in table.key:
            assert not column.nullable, f"{table.name}.{column.name} is a key column"


def test_common_reexports_are_the_contract():
    assert contract.BARS.arrow_schema() == common.BAR_SCHEMA
    assert list(contract.BARS.key) == common.BAR_KEY
    assert list(contract.CORPORATE_ACTIONS.key) == common.ACTION_KEY
