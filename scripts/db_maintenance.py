"""Database maintenance: `python scripts/db_maintenance.py [--vacuum] [--analyze] [--full-report]`.

Without flags it prints the size report: every table and index of the project's schemas with its size,
live and dead rows and an estimated bloat share (dead / (live + dead) from pg_stat_user_tables), largest
first. --vacuum runs VACUUM (ANALYZE) on those tables, --analyze only ANALYZE. Run it weekly, and after a
large backfill.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rapidtrader import logs  # noqa: E402
from rapidtrader.db import DatabaseError, connect, resolve_db_url  # noqa: E402
from rapidtrader.settings import fail_fast  # noqa: E402

SKIP = ("pg_catalog", "information_schema", "pg_toast")


def tables(cur) -> list[tuple[str, str]]:
    cur.execute(
        "select schemaname, relname from pg_stat_user_tables where schemaname <> all(%s) order by 1, 2",
        (list(SKIP),),
    )
    return cur.fetchall()


def size_report(cur, limit: int) -> None:
    cur.execute(
        """
        select
            s.schemaname || '.' || s.relname as table_name,
            pg_total_relation_size(s.relid) as total_bytes,
            pg_relation_size(s.relid) as table_bytes,
            pg_indexes_size(s.relid) as index_bytes,
            s.n_live_tup,
            s.n_dead_tup,
            case when s.n_live_tup + s.n_dead_tup > 0
                then s.n_dead_tup::float8 / (s.n_live_tup + s.n_dead_tup) end as bloat,
            greatest(s.last_vacuum, s.last_autovacuum) as last_vacuum,
            greatest(s.last_analyze, s.last_autoanalyze) as last_analyze
        from pg_stat_user_tables as s
        where s.schemaname <> all(%s)
        order by total_bytes desc
        limit %s
        """,
        (list(SKIP), limit),
    )
    print(f"{'table':<48} {'total MB':>9} {'table MB':>9} {'index MB':>9} {'live':>10} {'dead':>8} {'bloat':>6}")
    for name, total, tbl, idx, live, dead, bloat, _, _ in cur.fetchall():
        flag = " <- vacuum" if bloat is not None and bloat > 0.2 and dead > 1000 else ""
        print(
            f"{name:<48} {total / 1e6:>9.1f} {tbl / 1e6:>9.1f} {idx / 1e6:>9.1f} {live:>10} {dead:>8} "
            f"{'' if bloat is None else f'{bloat:.0%}':>6}{flag}"
        )
    cur.execute(
        """
        select schemaname || '.' || indexrelname, pg_relation_size(indexrelid), idx_scan
        from pg_stat_user_indexes where schemaname <> all(%s)
        order by pg_relation_size(indexrelid) desc limit %s
        """,
        (list(SKIP), limit),
    )
    print(f"\n{'index':<60} {'MB':>9} {'scans':>10}")
    for name, size, scans in cur.fetchall():
        print(f"{name:<60} {size / 1e6:>9.1f} {scans:>10}")
    cur.execute("select pg_size_pretty(pg_database_size(current_database()))")
    print(f"\ndatabase size: {cur.fetchone()[0]}")


@fail_fast
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--vacuum", action="store_true", help="VACUUM (ANALYZE) every project table")
    parser.add_argument("--analyze", action="store_true", help="ANALYZE every project table")
    parser.add_argument("--limit", type=int, default=30, help="rows in the size report")
    args = parser.parse_args(argv)
    logs.setup_logging()
    log = logs.get_logger("database")
    try:
        conn = connect(resolve_db_url())
    except DatabaseError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    conn.autocommit = True  # VACUUM cannot run inside a transaction
    try:
        with conn.cursor() as cur:
            if args.vacuum or args.analyze:
                command = "vacuum (analyze)" if args.vacuum else "analyze"
                started = time.monotonic()
                names = tables(cur)
                for schema, name in names:
                    cur.execute(f'{command} "{schema}"."{name}"')  # names come from the catalog
                took = time.monotonic() - started
                print(f"{command}: {len(names)} tables in {took:.1f} s")
                log.info("%s of %d tables in %.1f s", command, len(names), took)
            size_report(cur, args.limit)
    except Exception as exc:  # noqa: BLE001 - say what failed, exit non-zero
        log.error("maintenance failed: %s", exc)
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        conn.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
