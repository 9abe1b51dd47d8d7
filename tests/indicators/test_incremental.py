"""Nightly incremental builds give exactly the rows of a full refresh, including the nights
when a symbol's history changes under it (dividend re-adjustment, a late symbol, a quarantined bar)."""

from __future__ import annotations

import pytest

from tests.indicators.conftest import (
    DIVIDEND_SYMBOL,
    LATE_SYMBOL,
    QUARANTINED_SYMBOL,
    REFERENCE_SYMBOLS,
    TABLES,
    query,
    snapshot_columns,
)

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def test_plain_night_appends_every_symbol_without_recomputing(incremental_scenario):
    modes = incremental_scenario["modes"]["d1"]
    assert "full" not in modes.values(), {s: m for s, m in modes.items() if m == "full"}
    assert list(modes.values()).count("append") > 490


def test_changed_histories_are_recomputed_in_full(incremental_scenario):
    d2, d3 = incremental_scenario["modes"]["d2"], incremental_scenario["modes"]["d3"]
    assert d2[DIVIDEND_SYMBOL] == "full"  # adjusted prices changed in the recheck window
    assert d2[LATE_SYMBOL] == "full"  # new symbol with history
    assert all(d2[s] == "none" for s in REFERENCE_SYMBOLS)  # 2009-2010 bars, unchanged
    assert d3[QUARANTINED_SYMBOL] == "full"  # a stored bar disappeared
    assert list(d2.values()).count("full") == 2
    assert list(d3.values()).count("full") == 1


@pytest.mark.parametrize("table", list(TABLES))
def test_incremental_equals_full_refresh(incremental_scenario, table):
    url = incremental_scenario["url"]
    cols = ", ".join(snapshot_columns(url, table))
    (n_full,) = query(url, f"select count(*) from marts.{table}")[0]  # noqa: S608
    (n_inc,) = query(url, f"select count(*) from scenario.inc_{table}")[0]  # noqa: S608
    only_inc = query(
        url,
        f"select {cols} from scenario.inc_{table} except all select {cols} from marts.{table} limit 5",  # noqa: S608
    )
    only_full = query(
        url,
        f"select {cols} from marts.{table} except all select {cols} from scenario.inc_{table} limit 5",  # noqa: S608
    )
    assert n_inc == n_full > 0
    assert only_inc == [] and only_full == [], (only_inc, only_full)
