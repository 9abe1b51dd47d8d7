"""A view whose definition did not change is left as it is; anything that changes it makes it again.

The project's view materialization (dbt_project/macros/materializations/view_unless_unchanged.sql) keeps a
fingerprint of what dbt would write in the view's comment. On a scratch database: the staging view of the
file source's bars is built; built again it keeps its object id (not re-created); it is made again when its
compiled SQL changes (the raw table appears, so the view reads it instead of the empty stand-in), under
--full-refresh, when its fingerprint is missing or another (a view made before this materialization), and when
it was dropped.
"""

from __future__ import annotations

import pytest

from rapidtrader.dbt_runner import run_dbt
from tests.indicators.conftest import query  # autocommit: the DDL below must stay

pytestmark = [pytest.mark.e2e]

VIEW = "staging.stg_sample__bars"


def _build(url, *extra: str) -> str:
    result = run_dbt(["run", "--select", "stg_sample__bars", *extra], url, capture=True)
    assert result.returncode == 0, result.stdout[-4000:]
    return result.stdout


def _oid(url) -> int | None:
    return query(url, "select to_regclass(%s)::oid", (VIEW,))[0][0]


def _reads_raw(url) -> bool:
    return "raw_sample.bars" in query(url, "select pg_get_viewdef(%s::regclass)", (VIEW,))[0][0]


def test_an_unchanged_view_is_kept_and_every_change_makes_it_again(scratch_db):
    url = scratch_db("views")
    _build(url)
    first = _oid(url)
    assert first is not None and not _reads_raw(url)  # no raw table yet: the empty stand-in
    (comment,) = query(url, "select obj_description(%s::regclass, 'pg_class')", (VIEW,))[0]
    assert comment.startswith("Daily bars from bundled sample")  # the description stays above the fingerprint
    assert comment.splitlines()[-1].startswith("rt_view_fingerprint: ")

    log = _build(url)
    assert _oid(url) == first
    assert "view unchanged" in log

    # the raw table appears (its first load): the compiled SQL changes, the view is made again and reads it
    query(url, "create schema raw_sample")
    query(url, "create table raw_sample.bars as select * from staging.stg_sample__bars where false")
    query(url, "alter table raw_sample.bars add column _dlt_load_id text, add column _dlt_id text")
    _build(url)
    second = _oid(url)
    assert second != first and _reads_raw(url)

    _build(url, "--full-refresh")
    third = _oid(url)
    assert third != second

    query(url, f"comment on view {VIEW} is 'made by an older build'")
    _build(url)
    fourth = _oid(url)
    assert fourth != third
    (comment,) = query(url, "select obj_description(%s::regclass, 'pg_class')", (VIEW,))[0]
    assert comment.count("rt_view_fingerprint: ") == 1

    query(url, f"comment on view {VIEW} is null")
    _build(url)
    fifth = _oid(url)
    assert fifth != fourth

    query(url, f"drop view {VIEW}")
    _build(url)
    assert _oid(url) is not None
