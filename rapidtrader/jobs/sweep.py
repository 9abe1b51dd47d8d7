"""Parameter sweep: many ledger runs over one window in one set-based pass, with an optional walk-forward.

    python -m rapidtrader.jobs.sweep --start 2014-01-02 --end 2018-02-07 \\
        --param RT_RSI_BUY=25,30,35 --param RT_ATR_STOP_K=2,3 [--folds 3]
    python -m rapidtrader.jobs.sweep --grid grid.csv --start 2014-01-02 --end 2018-02-07
    make sweep GRID=grid.csv START=2014-01-02 END=2018-02-07 [FOLDS=3]
    python -m rapidtrader.jobs.sweep --drop 3 4      # delete the stored rows of sweeps 3 and 4

A grid is a CSV whose header names settings (RT_RSI_BUY, ...; rapidtrader.ledger_runs.SWEEP_SETTINGS
lists the ones a sweep may vary) and whose rows are runs; --param NAME=v1,v2 ... makes the Cartesian
product instead. A setting not in the grid (or an empty cell) keeps its current value. Every row is checked
before anything runs, as the settings themselves are (rapidtrader.settings): an unknown name, a value out
of range, an SMA window the indicators do not hold, a fast SMA not below the slow one; the error names the
row and the setting.

The job writes the runs to ops.sweep_requests and builds the models tagged `sweep` for them: every run
advances through the days together in the ledger function the nightly ledger and `make backtest` use, so
each run equals `make backtest` with its settings. It prints the ten best runs by Sharpe and the
walk-forward table, and writes the sweep's HTML page into RT_REPORT_DIR. The nightly paper ledger and
earlier sweeps are never touched; results stay queryable in the marts sweep_runs, sweep_daily,
sweep_orders, sweep_fills, sweep_trades, sweep_summary and sweep_walkforward. Each sweep keeps its rows
(a 100-run sweep over five years about 265 MB) until `--drop` deletes them.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import itertools
import json
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from psycopg2 import sql

from rapidtrader import run_lock
from rapidtrader.db import DatabaseError, DbUrl, connect, resolve_db_url
from rapidtrader.dbt_runner import run_dbt
from rapidtrader.ledger_runs import SWEEP_SETTINGS, ledger_run
from rapidtrader.settings import BY_NAME, Settings, SettingsError, dbt_vars, fail_fast, get_settings, sweep_columns


class SweepError(RuntimeError):
    """A sweep that cannot run: a bad grid, a window without data, a failed build."""


@dataclass(frozen=True)
class Grid:
    names: tuple[str, ...]  # the settings the grid varies, in its order (RT_RSI_BUY, ...)
    rows: tuple[tuple[str, ...], ...]  # one value per name, '' = keep the current value
    row_labels: tuple[str, ...]  # how an error names a row ("row 3", "--param row 4")


def product_grid(params: Sequence[str]) -> Grid:
    """--param NAME=v1,v2 ... -> the Cartesian product, first parameter varying slowest."""
    names, choices = [], []
    for param in params:
        name, sep, values = param.partition("=")
        name = name.strip().upper()
        if not sep or not values.strip():
            raise SweepError(f"--param {param!r}: expected NAME=value1,value2,...")
        if name in names:
            raise SweepError(f"--param {name} is given twice")
        names.append(name)
        choices.append([v.strip() for v in values.split(",")])
    rows = tuple(itertools.product(*choices))
    return Grid(tuple(names), rows, tuple(f"--param row {i}" for i in range(1, len(rows) + 1)))


def read_grid(path: Path) -> Grid:
    """A CSV grid: header of setting names, one run per row (line numbers name the rows)."""
    try:
        with path.open(newline="") as handle:
            lines = list(csv.reader(handle))
    except OSError as exc:
        raise SweepError(f"cannot read the grid {path}: {exc.strerror}") from None
    if not lines or not any(cell.strip() for cell in lines[0]):
        raise SweepError(f"{path}: the grid is empty; its first line names the settings (RT_RSI_BUY,...)")
    names = tuple(cell.strip().upper() for cell in lines[0])
    if len(set(names)) != len(names):
        raise SweepError(f"{path} line 1: a setting is named twice")
    rows, labels = [], []
    for number, line in enumerate(lines[1:], start=2):
        if not line:  # a blank line; a line of empty cells is a run of the current settings
            continue
        if len(line) != len(names):
            raise SweepError(f"{path} line {number}: {len(line)} values for {len(names)} settings")
        rows.append(tuple(cell.strip() for cell in line))
        labels.append(f"{path.name} line {number}")
    if not rows:
        raise SweepError(f"{path}: the grid has no runs (only its header)")
    return Grid(names, tuple(rows), tuple(labels))


def check_grid(grid: Grid, environ: Mapping[str, str]) -> list[dict]:
    """Each row's dbt vars (every setting, the row's values over `environ`), or SweepError naming the row
    and the setting. Nothing runs before every row passes."""
    for name in grid.names:
        if name not in BY_NAME:
            raise SweepError(f"the grid names {name}: no such setting")
        if name not in SWEEP_SETTINGS:
            raise SweepError(
                f"{name} cannot be swept: a sweep varies the strategy, risk and cost settings "
                f"({', '.join(SWEEP_SETTINGS)})"
            )
    checked = []
    for label, row in zip(grid.row_labels, grid.rows, strict=True):
        overrides = {name: value for name, value in zip(grid.names, row, strict=True) if value != ""}
        try:
            settings = Settings({**environ, **overrides})
        except SettingsError as exc:
            raise SweepError(f"{label}: {exc}") from None
        checked.append(dbt_vars(settings))
    return checked


def sessions_in(url: DbUrl, start: str, end: str | None) -> int:
    conn = connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute("select to_regclass('marts.market_state') is not null")
            if not cur.fetchone()[0]:
                raise SweepError("no market_state mart: build the warehouse first (`make demo` or `make eod`)")
            cur.execute(
                "select count(*) from marts.market_state where d >= %s and (%s::date is null or d <= %s::date)",
                (start, end, end),
            )
            return cur.fetchone()[0]
    finally:
        conn.close()


def write_requests(
    url: DbUrl, grid: Grid, runs: list[dict], start: str, end: str | None, folds: int
) -> tuple[int, list[int]]:
    """Store the runs under a new sweep id (run ids unique over every sweep): (sweep_id, run ids)."""
    settings_vars = list(sweep_columns())
    grid_names = [name.lower() for name in grid.names]
    conn = connect(url)
    try:
        with conn, conn.cursor() as cur:
            cur.execute("lock table ops.sweep_requests in exclusive mode")
            # the sequences, or past the stored ids where those are ahead (sweeps stored before the sequences)
            cur.execute(
                "select greatest(nextval('ops.sweep_ids'), coalesce(max(sweep_id), 0) + 1),"
                " greatest(nextval('ops.sweep_run_ids') - 1, coalesce(max(run_id), 0))"
                " from ops.sweep_requests"
            )
            sweep_id, last_run = cur.fetchone()
            cur.execute(
                "select setval('ops.sweep_ids', %s), setval('ops.sweep_run_ids', %s)",
                (sweep_id, last_run + max(len(runs), 1)),
            )
            run_ids = []
            for run_no, run_vars in enumerate(runs, start=1):
                run_id = last_run + run_no
                run_ids.append(run_id)
                cur.execute(
                    "insert into ops.sweep_requests (run_id, sweep_id, run_no, start_d, end_d, folds, grid_names,"
                    " settings, ledger_run) values (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
                    (
                        run_id,
                        sweep_id,
                        run_no,
                        start,
                        end,
                        folds,
                        grid_names,
                        json.dumps({name: run_vars[name] for name in settings_vars}),
                        json.dumps(ledger_run(run_vars, run_id)),
                    ),
                )
        return sweep_id, run_ids
    finally:
        conn.close()


def _query(url: DbUrl, sql: str, params: tuple) -> tuple[list[str], list[tuple]]:
    conn = connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute(sql, params)
            return [c.name for c in cur.description], cur.fetchall()
    finally:
        conn.close()


def _table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(x) for x in column) for column in zip(headers, *rows, strict=True)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in rows]
    return "\n".join(lines)


def _cell(value: object, fmt: str = "") -> str:
    if value is None:
        return "-"
    if fmt == "pct":
        return f"{float(value) * 100:.2f}%"
    if fmt == "metric":
        return f"{float(value):.2f}"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def best_runs_table(url: DbUrl, sweep_id: int, grid_names: Sequence[str], limit: int = 10) -> str:
    """The best runs by Sharpe (ties: lower run_id), with the grid's settings."""
    columns = ", ".join(f"r.{name}" for name in grid_names)  # names checked against BY_NAME
    names, rows = _query(
        url,
        f"select s.run_id, {columns + ',' if columns else ''} s.cagr, s.sharpe, s.max_drawdown, s.n_trades"  # noqa: S608
        " from marts.sweep_summary as s inner join marts.sweep_runs as r on r.run_id = s.run_id"
        " where s.sweep_id = %s and s.portfolio = 'strategy'"
        " order by s.sharpe desc nulls last, s.run_id limit %s",
        (sweep_id, limit),
    )
    fmt = {"cagr": "pct", "max_drawdown": "pct", "sharpe": "metric"}
    return _table(names, [[_cell(v, fmt.get(n, "")) for n, v in zip(names, row, strict=True)] for row in rows])


def walkforward_table(url: DbUrl, sweep_id: int) -> str | None:
    names, rows = _query(
        url,
        "select fold, is_first_d || '..' || is_last_d as in_sample, oos_first_d || '..' || oos_last_d as out_of_sample,"
        " run_id, is_sharpe, oos_sharpe, oos_total_return, chained_oos_return"
        " from marts.sweep_walkforward where sweep_id = %s order by fold",
        (sweep_id,),
    )
    if not rows:
        return None
    fmt = {"oos_total_return": "pct", "chained_oos_return": "pct", "is_sharpe": "metric", "oos_sharpe": "metric"}
    return _table(names, [[_cell(v, fmt.get(n, "")) for n, v in zip(names, row, strict=True)] for row in rows])


def run(url: DbUrl, grid: Grid, start: str, end: str | None, folds: int = 0) -> int:
    """Check the grid, store the runs, build the sweep; the sweep id. SweepError when it cannot run."""
    runs = check_grid(grid, os.environ)
    n_sessions = sessions_in(url, start, end)
    if n_sessions < 2:
        raise SweepError(f"{n_sessions} sessions with bars in [{start}, {end or 'newest'}]: nothing to sweep")
    if folds and n_sessions // (folds + 1) < 2:
        raise SweepError(f"FOLDS={folds} splits {n_sessions} sessions into blocks of fewer than 2 sessions")
    with run_lock.hold(url, "sweep"):
        sweep_id, _ = write_requests(url, grid, runs, start, end, folds)
        args = ["build", "--select", "tag:sweep", "--vars", json.dumps({"rt_sweep_id": sweep_id})]
        result = run_dbt(args, url)
    if result.returncode != 0:
        raise SweepError(
            f"sweep {sweep_id}: `dbt {' '.join(args)}` exited {result.returncode}: see the dbt output above"
        )
    return sweep_id


# where a sweep's rows are stored: every table of these schemas with a sweep_id column (the requests in ops,
# the ledger shards, daily rows, trades and metrics in intermediate; the marts are views over them)
SWEEP_SCHEMAS = ("intermediate", "ops")


def drop_sweeps(url: DbUrl, sweep_ids: Sequence[int]) -> dict[str, int]:
    """Delete every stored row of these sweeps in one transaction, under the warehouse lock: the rows deleted
    per table. SweepError, with nothing deleted, when one of them was never stored. Later sweeps reuse the
    space once autovacuum (or `scripts/db_maintenance.py --vacuum`) has run."""
    ids = sorted(set(sweep_ids))
    with run_lock.hold(url, "sweep --drop"):
        conn = connect(url)
        try:
            with conn, conn.cursor() as cur:
                cur.execute("select distinct sweep_id from ops.sweep_requests where sweep_id = any(%s)", (ids,))
                missing = sorted(set(ids) - {row[0] for row in cur.fetchall()})
                if missing:
                    raise SweepError(f"no sweep {', '.join(map(str, missing))} in ops.sweep_requests: nothing deleted")
                cur.execute(
                    "select c.table_schema, c.table_name from information_schema.columns as c"
                    " inner join information_schema.tables as t using (table_schema, table_name)"
                    " where c.column_name = 'sweep_id' and t.table_type = 'BASE TABLE' and c.table_schema = any(%s)"
                    " order by c.table_schema <> 'ops', c.table_schema, c.table_name",
                    (list(SWEEP_SCHEMAS),),
                )
                deleted = {}
                for schema, table in cur.fetchall():
                    cur.execute(
                        sql.SQL("delete from {} where sweep_id = any(%s)").format(sql.Identifier(schema, table)),
                        (ids,),
                    )
                    deleted[f"{schema}.{table}"] = cur.rowcount
            return deleted
        finally:
            conn.close()


def report(url: DbUrl, sweep_id: int, grid: Grid) -> str:
    """What `make sweep` prints, and the path of the HTML page it writes."""
    from rapidtrader.report.sweep_page import write_sweep_page

    grid_names = [name.lower() for name in grid.names]
    parts = [f"Sweep {sweep_id}: {len(grid.rows)} runs. Best by Sharpe:\n", best_runs_table(url, sweep_id, grid_names)]
    walk = walkforward_table(url, sweep_id)
    parts += ["\nWalk-forward:\n", walk] if walk else ["\nNo walk-forward (FOLDS not set)."]
    page = write_sweep_page(url, sweep_id, get_settings().report_dir)
    parts.append(f"\nPage: {page}")
    return "\n".join(parts)


def _date(text: str) -> str:
    return dt.date.fromisoformat(text).isoformat()


@fail_fast
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--grid", type=Path, help="CSV: header of setting names, one run per row")
    source.add_argument("--param", action="append", help="NAME=v1,v2,... (repeat: the Cartesian product)")
    source.add_argument("--drop", type=int, nargs="+", metavar="SWEEP_ID", help="delete these sweeps' stored rows")
    parser.add_argument("--start", type=_date, help="first day (YYYY-MM-DD; required for a sweep)")
    parser.add_argument("--end", type=_date, help="last day (YYYY-MM-DD; default the newest bars)")
    parser.add_argument("--folds", type=int, default=0, help="walk-forward folds k (k+1 blocks); 0 = none")
    args = parser.parse_args(argv)
    if args.drop:
        return _drop(args.drop)
    if not args.start:
        parser.error("--start is required")
    if args.end and args.end < args.start:
        parser.error("--end is before --start")
    if args.folds < 0:
        parser.error("--folds must be 0 or more")
    try:
        grid = read_grid(args.grid) if args.grid else product_grid(args.param)
        check_grid(grid, os.environ)  # a bad row fails here, before a database is even opened
        url = resolve_db_url()
        sweep_id = run(url, grid, args.start, args.end, args.folds)
        print(report(url, sweep_id, grid))
    except (SweepError, DatabaseError) as exc:
        print(f"error: sweep failed: {exc}", file=sys.stderr)
        return 1
    return 0


def _drop(sweep_ids: list[int]) -> int:
    try:
        deleted = drop_sweeps(resolve_db_url(), sweep_ids)
    except (SweepError, DatabaseError) as exc:
        print(f"error: sweep --drop failed: {exc}", file=sys.stderr)
        return 1
    rows = ", ".join(f"{table} {n:,}" for table, n in deleted.items())
    print(f"Dropped sweep {', '.join(map(str, sorted(set(sweep_ids))))}: rows deleted: {rows}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
