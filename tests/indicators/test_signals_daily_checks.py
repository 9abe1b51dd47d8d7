"""The whole-history checks of the signals_daily view (tag full_history: `make test-dq-full` and a full
rebuild) find the newest batch through signals_decided's index (`batch_from`) instead of computing the
view once more: they must still fail on the same broken rows (a duplicated key, a buy without strength)."""

from __future__ import annotations

import re
import uuid

from rapidtrader.db import DbUrl, drop_database
from rapidtrader.dbt_runner import run_dbt

from .conftest import clone_database, query

UNIQUE_TEST = "expect_unique_combination_in_latest_batch_signals_daily"
VALID_TEST = "signals_daily_latest_batch_valid"


def failures(url: DbUrl) -> dict[str, str]:
    """`dbt test -s signals_daily`: each test's status as dbt prints it ('PASS' or 'FAIL <rows>')."""
    result = run_dbt(["test", "--select", "signals_daily"], url, capture=True)
    status = {name: verdict for verdict, name in re.findall(r"(PASS|FAIL \d+) (\w+)", result.stdout)}
    out = {}
    for test in (UNIQUE_TEST, VALID_TEST):
        names = [name for name in status if name.startswith(test)]
        assert len(names) == 1, result.stdout[-4000:]
        out[test] = status[names[0]]
    return out


def test_the_view_checks_fail_on_a_duplicated_key_and_a_buy_without_strength(indicators_db, ind_server):
    name = f"rt_test_ind_{uuid.uuid4().hex[:8]}"
    url = clone_database(ind_server, indicators_db.dbname, name)
    try:
        assert failures(url) == {UNIQUE_TEST: "PASS", VALID_TEST: "PASS"}
        # a buy whose strength went missing, in the newest batch of signals_decided
        query(
            url,
            """update marts.signals_decided set combined_strength = null
               where (symbol, d) = (
                   select symbol, d from marts.signals_decided
                   where combined_direction = 'buy' order by symbol, d limit 1
               )""",
        )
        # a second indicators row for one decision: the view then shows its three rows twice
        index = query(
            url,
            """select indexname from pg_indexes
               where schemaname = 'marts' and tablename = 'indicators_daily' and indexdef like '%%UNIQUE%%'""",
        )[0][0]
        query(url, f'drop index marts."{index}"')
        query(
            url,
            """insert into marts.indicators_daily select * from marts.indicators_daily
               where (symbol, d) = (select symbol, d from marts.signals_decided order by symbol, d limit 1)""",
        )
        assert failures(url) == {UNIQUE_TEST: "FAIL 3", VALID_TEST: "FAIL 1"}
    finally:
        drop_database(ind_server, name)
