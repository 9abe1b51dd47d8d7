"""The HTML page of one parameter sweep (issue 11): `write_sweep_page(url, sweep_id, out_dir)`.

Reads the sweep marts in schema marts (sweep_runs, sweep_summary, sweep_daily, sweep_walkforward) and writes
`sweep_<id>.html`: one self-contained file like the daily report (its CSS and section markup from
rapidtrader.report.render, charts as PNG data: URIs from rapidtrader.report.charts), so it can be mailed or
archived and opens with no network.

The setting columns a sweep varied are named by sweep_runs.grid_names. Those names are data, so they are
checked against the table's columns in the catalog and quoted as identifiers, never formatted into SQL.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import matplotlib
from matplotlib.figure import Figure
from psycopg2 import errors, sql

from rapidtrader.db import DbUrl, connect
from rapidtrader.report.build import Section, Table
from rapidtrader.report.charts import to_data_uri
from rapidtrader.report.render import html_page

IDENTIFIER = re.compile(r"[a-z_][a-z0-9_]*")
N_CURVES = 5
N_TOP = 10
NO_SHARPE = "-"


class SweepPageError(ValueError):
    """The sweep cannot be shown: the message says what is wrong and what to do."""


@dataclass(frozen=True)
class Run:
    run_id: int
    settings: tuple  # the values of the grid's settings, in grid_names order
    cagr: Decimal | None
    sharpe: float | None
    max_drawdown: float | None
    n_trades: int | None


@dataclass(frozen=True)
class Sweep:
    sweep_id: int
    grid_names: list[str]
    start_d: dt.date
    end_d: dt.date
    folds: int | None
    runs: list[Run]  # best Sharpe first, null Sharpe last, ties by lower run_id


@dataclass(frozen=True)
class Grid:
    """Sharpe over the first two grid dimensions: `cells[row][col]`, columns the first dimension's values."""

    x_name: str
    x_values: list
    y_name: str | None  # None: a one-dimension grid, drawn as a single row
    y_values: list
    cells: list[list[float | None]]


# ---------------------------------------------------------------------------------------------------
# Reading the marts


def _grid_names(cur, sweep_id: int) -> list[str]:
    """The grid's setting names, checked to be plain identifiers and columns of marts.sweep_runs."""
    cur.execute("select distinct grid_names from marts.sweep_runs where sweep_id = %s", (sweep_id,))
    found = [row[0] for row in cur.fetchall()]
    if not found:
        raise SweepPageError(f"no runs for sweep {sweep_id} in marts.sweep_runs: run the sweep first")
    if len(found) > 1:
        raise SweepPageError(f"sweep {sweep_id} has differing grid_names across its runs: {found}")
    names = list(found[0] or [])
    cur.execute(
        "select column_name from information_schema.columns where table_schema = 'marts' and table_name = 'sweep_runs'"
    )
    columns = {row[0] for row in cur.fetchall()}
    bad = [n for n in names if not IDENTIFIER.fullmatch(n) or n not in columns]
    if bad:
        raise SweepPageError(f"sweep {sweep_id}: grid_names {bad} are not setting columns of marts.sweep_runs")
    return names


def _runs_query(grid_names: list[str]) -> sql.Composed:
    settings = [sql.Identifier("r", name) for name in grid_names]
    return sql.SQL(
        """
        select
            r.run_id,
            r.start_d,
            -- a sweep without --end ran to the newest bars: the last day its runs traded
            coalesce(r.end_d, s.last_d) as end_d,
            r.folds,
            s.cagr,
            nullif(s.sharpe, 'NaN') as sharpe,
            s.max_drawdown,
            s.n_trades{settings}
        from marts.sweep_runs as r
        left join marts.sweep_summary as s
            on s.sweep_id = r.sweep_id and s.run_id = r.run_id and s.portfolio = 'strategy'
        where r.sweep_id = %s
        order by sharpe desc nulls last, r.run_id
        """
    ).format(settings=sql.SQL("").join(sql.SQL(", ") + s for s in settings))


def read_sweep(cur, sweep_id: int) -> Sweep:
    """The sweep's runs with their strategy summary, best Sharpe first (a NaN Sharpe counts as none)."""
    names = _grid_names(cur, sweep_id)
    cur.execute(_runs_query(names), (sweep_id,))
    rows = cur.fetchall()
    runs = [Run(r[0], tuple(r[8:]), r[4], r[5], r[6], r[7]) for r in rows]
    folds = [r[3] for r in rows if r[3] is not None]
    return Sweep(
        sweep_id=sweep_id,
        grid_names=names,
        start_d=min(r[1] for r in rows),
        end_d=max(r[2] for r in rows),
        folds=max(folds) if folds else None,
        runs=runs,
    )


def _read_curves(cur, sweep_id: int, run_ids: list[int]) -> tuple[dict[int, list[tuple]], list[tuple]]:
    """Equity by day for each of `run_ids`, and the benchmark's (the same on every run; the lowest run_id's
    value is taken for each day)."""
    cur.execute(
        "select run_id, d, equity, benchmark_equity from marts.sweep_daily "
        "where sweep_id = %s and run_id = any(%s) order by run_id, d",
        (sweep_id, run_ids),
    )
    curves: dict[int, list[tuple]] = {}
    benchmark: dict[dt.date, float] = {}
    for run_id, d, equity, bench in cur.fetchall():
        curves.setdefault(run_id, []).append((d, _float(equity)))
        if bench is not None:
            benchmark.setdefault(d, float(bench))
    return curves, sorted(benchmark.items())


def _read_walkforward(cur, sweep_id: int) -> list[tuple] | None:
    """The folds in order; None when the mart is not built (a sweep without FOLDS may never build it)."""
    try:
        cur.execute(
            "select fold, is_first_d, is_last_d, oos_first_d, oos_last_d, run_id, is_sharpe, oos_total_return, "
            "oos_cagr, oos_sharpe, oos_max_drawdown, oos_n_trades, chained_oos_return "
            "from marts.sweep_walkforward where sweep_id = %s order by fold",
            (sweep_id,),
        )
    except errors.UndefinedTable:
        return None
    return cur.fetchall()


def _float(x) -> float | None:
    return None if x is None else float(x)


# ---------------------------------------------------------------------------------------------------
# The heatmap's numbers


def _ordered(values) -> list:
    return sorted(set(values), key=lambda v: (v is None, v))


def sharpe_grid(grid_names: list[str], runs: list[Run]) -> Grid:
    """Sharpe by the first two grid dimensions; with more dimensions a cell holds the best Sharpe among the
    runs sharing its two values. A cell with no run, or only runs without a Sharpe, is None."""
    two_d = len(grid_names) >= 2
    xs = _ordered(r.settings[0] for r in runs)
    ys = _ordered(r.settings[1] for r in runs) if two_d else [None]
    cells: list[list[float | None]] = [[None] * len(xs) for _ in ys]
    for run in runs:
        if run.sharpe is None:
            continue
        row = ys.index(run.settings[1]) if two_d else 0
        col = xs.index(run.settings[0])
        best = cells[row][col]
        cells[row][col] = run.sharpe if best is None else max(best, run.sharpe)
    return Grid(grid_names[0], xs, grid_names[1] if two_d else None, ys, cells)


def _label(value) -> str:
    """A setting's value as a person reads it: 30.0 -> 30, 2.5 -> 2.5."""
    if value is None:
        return "null"
    return f"{value:g}" if isinstance(value, float | Decimal) else str(value)


# ---------------------------------------------------------------------------------------------------
# Charts (PNG data: URIs, like the daily report's)


def heatmap_chart(grid: Grid, title: str = "Sharpe of each grid cell") -> str:
    """Sharpe as coloured cells, each labelled with its value; a cell without a Sharpe is grey and labelled '-'."""
    values = [[float("nan") if v is None else v for v in row] for row in grid.cells]
    fig = Figure(figsize=(min(2 + 1.1 * len(grid.x_values), 10), 1.6 + 0.6 * len(grid.y_values)))
    ax = fig.subplots()
    cmap = matplotlib.colormaps["RdYlGn"].with_extremes(bad="#bdbdbd")
    known = [v for row in grid.cells for v in row if v is not None]
    image = ax.imshow(values, cmap=cmap, aspect="auto", vmin=min(known, default=0), vmax=max(known, default=1))
    for i, row in enumerate(grid.cells):
        for j, v in enumerate(row):
            ax.text(j, i, NO_SHARPE if v is None else f"{v:.2f}", ha="center", va="center", fontsize=9)
    ax.set_xticks(range(len(grid.x_values)), [_label(v) for v in grid.x_values])
    ax.set_xlabel(grid.x_name)
    if grid.y_name is None:
        ax.set_yticks([0], ["Sharpe"])
    else:
        ax.set_yticks(range(len(grid.y_values)), [_label(v) for v in grid.y_values])
        ax.set_ylabel(grid.y_name)
    ax.set_title(title)
    if known:
        fig.colorbar(image, ax=ax, label="Sharpe")
    return to_data_uri(fig)


def equity_chart(curves: list[tuple[str, list[tuple]]], benchmark: list[tuple]) -> str:
    """The best runs' equity, one line each, and the benchmark's as a dashed black line."""
    fig = Figure(figsize=(9, 4.2))
    ax = fig.subplots()
    for label, points in curves:
        ax.plot([p[0] for p in points], [p[1] for p in points], linewidth=1.3, label=label)
    if benchmark:
        ax.plot([p[0] for p in benchmark], [p[1] for p in benchmark], "k--", linewidth=1.2, label="benchmark")
    ax.set_ylabel("equity")
    ax.set_title(f"Equity of the {len(curves)} best runs by Sharpe against the benchmark")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", fontsize=8)
    fig.autofmt_xdate()
    return to_data_uri(fig)


# ---------------------------------------------------------------------------------------------------
# Sections


def _describe(sweep: Sweep, run: Run) -> str:
    settings = ", ".join(f"{n}={_label(v)}" for n, v in zip(sweep.grid_names, run.settings, strict=True))
    return f"run {run.run_id}" + (f" ({settings})" if settings else "")


def heatmap_sections(sweep: Sweep) -> list[Section]:
    """The heatmap as a chart, then its numbers as a table (the exact values, and what a test can read)."""
    chart = Section("heatmap", "Sharpe over the grid")
    values = Section("heatmap_values", "Sharpe over the grid: the values")
    if not sweep.grid_names:
        chart.unavailable("the grid varies no setting: nothing to map")
        return [chart]
    grid = sharpe_grid(sweep.grid_names, sweep.runs)
    across = f"{grid.x_name} across" + (f", {grid.y_name} down" if grid.y_name else " (the grid's only dimension)")
    chart.lines.append(f"Strategy Sharpe (sweep_summary) by {across}; grey '{NO_SHARPE}' = no Sharpe.")
    if len(sweep.grid_names) > 2:
        chart.lines.append(
            f"Each cell shows the best Sharpe among the runs sharing its {grid.x_name} and {grid.y_name} "
            f"(the grid also varies {', '.join(sweep.grid_names[2:])})."
        )
    alt = f"Sharpe heatmap over {grid.x_name}" + (f" and {grid.y_name}" if grid.y_name else "")
    title = "Best Sharpe of each grid cell" if len(sweep.grid_names) > 2 else "Sharpe of each grid cell"
    chart.images.append((alt, heatmap_chart(grid, title)))
    corner = f"{grid.y_name} \\ {grid.x_name}" if grid.y_name else grid.x_name
    rows = [
        (_label(y) if grid.y_name else "Sharpe", *(NO_SHARPE if v is None else v for v in row))
        for y, row in zip(grid.y_values, grid.cells, strict=True)
    ]
    values.tables.append((None, Table([corner, *(_label(x) for x in grid.x_values)], rows)))
    return [chart, values]


def curves_section(cur, sweep: Sweep) -> Section:
    best = sweep.runs[:N_CURVES]
    s = Section("equity", f"Equity of the {len(best)} best runs against the benchmark")
    curves, benchmark = _read_curves(cur, sweep.sweep_id, [r.run_id for r in best])
    drawn = [(_describe(sweep, r), curves[r.run_id]) for r in best if r.run_id in curves]
    if not drawn:
        return s.unavailable(f"not available: marts.sweep_daily has no days for sweep {sweep.sweep_id}")
    s.lines.append("Best by strategy Sharpe, ties to the lower run_id: " + "; ".join(d for d, _ in drawn) + ".")
    s.images.append(("Equity of the best runs and the benchmark", equity_chart(drawn, benchmark)))
    return s


def top_runs_section(sweep: Sweep) -> Section:
    s = Section("top_runs", f"The {min(N_TOP, len(sweep.runs))} best runs by Sharpe")
    columns = ["run_id", *sweep.grid_names, "CAGR", "Sharpe", "max drawdown", "trades"]
    rows = [
        (r.run_id, *map(_label, r.settings), r.cagr, r.sharpe, r.max_drawdown, r.n_trades) for r in sweep.runs[:N_TOP]
    ]
    s.tables.append((None, Table(columns, rows)))
    return s


def walkforward_section(cur, sweep: Sweep) -> Section:
    s = Section("walkforward", "Walk-forward")
    folds = _read_walkforward(cur, sweep.sweep_id)
    if not folds:
        if sweep.folds:
            return s.unavailable(f"FOLDS was {sweep.folds} but marts.sweep_walkforward has no rows for this sweep")
        s.lines.append("No walk-forward was asked for this sweep (FOLDS unset).")
        return s
    settings = {r.run_id: tuple(map(_label, r.settings)) for r in sweep.runs}
    unknown = ("?",) * len(sweep.grid_names)  # a fold's run that is not in sweep_runs
    rows = [(f[0], f"{f[1]} to {f[2]}", f"{f[3]} to {f[4]}", f[5], *settings.get(f[5], unknown), *f[6:]) for f in folds]
    # Headers with spaces: they wrap, so the 13-column table fits the page (OOS = out of sample).
    columns = ["fold", "in sample", "out of sample", "run_id", *sweep.grid_names, "in-sample Sharpe"]
    columns += ["OOS total return", "OOS CAGR", "OOS Sharpe", "OOS max drawdown", "OOS trades", "chained OOS return"]
    chained = _float(folds[-1][12])
    s.lines.append(
        f"{len(folds)} folds: each picks the best in-sample run and trades it out of sample"
        + ("." if chained is None else f"; chained out-of-sample return {chained:.2%}.")
    )
    s.tables.append((None, Table(columns, rows)))
    return s


# ---------------------------------------------------------------------------------------------------
# The page


def sweep_html(cur, sweep_id: int) -> str:
    sweep = read_sweep(cur, sweep_id)
    title = f"Parameter sweep {sweep_id}: {sweep.start_d}..{sweep.end_d}, {len(sweep.runs)} runs"
    grid = " x ".join(sweep.grid_names) or "none"
    meta = (
        f"Generated {dt.datetime.now().astimezone().strftime('%Y-%m-%d %H:%M:%S %Z')} · grid: {grid} · "
        f"folds: {sweep.folds or 'unset'}"
    )
    sections = [
        *heatmap_sections(sweep),
        curves_section(cur, sweep),
        top_runs_section(sweep),
        walkforward_section(cur, sweep),
    ]
    return html_page(title, meta, sections)


def write_sweep_page(url: DbUrl, sweep_id: int, out_dir: Path) -> Path:
    """Write `out_dir/sweep_<sweep_id>.html` from the sweep marts and return its path.

    Raises SweepPageError when the sweep has no runs or its grid_names are not columns of sweep_runs.
    """
    conn = connect(url)
    conn.autocommit = True  # read-only, and a missing sweep_walkforward must not abort the other reads
    try:
        with conn.cursor() as cur:
            page = sweep_html(cur, sweep_id)
    finally:
        conn.close()
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"sweep_{sweep_id}.html"
    path.write_text(page, encoding="utf-8")
    return path
