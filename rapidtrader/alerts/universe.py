"""Universe changes between runs: the active equities of marts.symbols against the last snapshot kept in
ops.universe_snapshots (a new snapshot is kept whenever they differ, and on the first run)."""

from __future__ import annotations

# Jobs whose presence in a run means marts.symbols was rebuilt, so comparing it is meaningful.
BUILD_JOBS = ("eod_run", "dbt_build", "eod_trade")


def changes(cur, run_id: str) -> tuple[list[str], list[str]]:
    """(added, removed) since the previous snapshot; ([], []) before the first build of marts.symbols."""
    cur.execute("select to_regclass('marts.symbols') is not null")
    if not cur.fetchone()[0]:
        return [], []
    cur.execute(
        "select coalesce(array_agg(symbol order by symbol), '{}') from marts.symbols "
        "where is_active and coalesce(asset_class, 'equity') <> 'etf'"
    )
    current = set(cur.fetchone()[0])
    cur.execute("select symbols from ops.universe_snapshots order by id desc limit 1")
    previous = cur.fetchone()
    added: list[str] = []
    removed: list[str] = []
    if previous is not None:
        added = sorted(current - set(previous[0]))
        removed = sorted(set(previous[0]) - current)
    if previous is None or added or removed:
        cur.execute("insert into ops.universe_snapshots (run_id, symbols) values (%s, %s)", (run_id, sorted(current)))
    return added, removed
