"""The sweep page (issue 11): the heatmap's cells where they belong, the best runs in order, the walk-forward
table or the line saying none was asked, grid names that are not columns refused, and charts that load in a real
headless browser.

The marts are hand-made in a scratch database with the shapes the sweep job builds, so every expected number
below is known: Sharpe values are chosen, not computed.
"""

from __future__ import annotations

import html
import itertools
import re

import pytest

from rapidtrader.report.sweep_page import SweepPageError, write_sweep_page
from tests.ops import browser
from tests.ops.conftest import sql_rows

DDL = """
create table marts.sweep_runs (
    sweep_id int, run_id int, run_no int, start_d date, end_d date, folds int, grid_names text[],
    created_at timestamptz, rt_rsi_buy float8, rt_rsi_sell float8, rt_atr_stop_k float8,
    rt_max_exposure_per_sector float8, rt_sma_fast int, rt_enable_atr_stop int
);
create table marts.sweep_daily (
    sweep_id int, run_id int, d date, cash numeric, equity numeric, market_value numeric, exposure float8,
    drawdown float8, benchmark_equity numeric
);
create table marts.sweep_summary (
    sweep_id int, run_id int, portfolio text, first_d date, last_d date, n_days bigint, total_return numeric,
    cagr numeric, ann_vol float8, sharpe float8, sortino float8, max_drawdown float8, win_rate float8,
    profit_factor float8, n_trades bigint
);
create table marts.sweep_walkforward (
    sweep_id int, fold int, is_first_d date, is_last_d date, oos_first_d date, oos_last_d date, run_id int,
    is_sharpe float8, oos_total_return numeric, oos_cagr numeric, oos_sharpe float8, oos_max_drawdown float8,
    oos_n_trades bigint, chained_oos_return numeric
);
"""

# Sweep 7: a 3 x 2 grid (rt_rsi_buy x rt_atr_stop_k), 2 walk-forward folds. Run 103 has no Sharpe; runs 102
# and 105 tie, so 102 (the lower run_id) ranks first.
SWEEP_7 = {  # run_id: (rt_rsi_buy, rt_atr_stop_k, sharpe)
    101: (25.0, 2.0, 0.5),
    102: (25.0, 3.0, 1.2),
    103: (30.0, 2.0, None),
    104: (30.0, 3.0, 0.8),
    105: (35.0, 2.0, 1.2),
    106: (35.0, 3.0, -0.3),
}
# Sweep 8: three dimensions, 3 x 2 x 2 = 12 runs, no folds. Sharpe = rsi part + k part + 0.05 for fast 20, so
# each heatmap cell's best is its fast-20 run, except (30, 3) whose fast-20 run (210) has no Sharpe.
RSI_PART, K_PART = {25.0: 0.5, 30.0: 1.0, 35.0: 1.5}, {2.0: 0.2, 3.0: 0.3}


def _sharpe_8(rsi: float, k: float, fast: int) -> float | None:
    if (rsi, k, fast) == (30.0, 3.0, 20):
        return None
    return round(RSI_PART[rsi] + K_PART[k] + (0.05 if fast == 20 else 0), 2)


SWEEP_8 = {
    201 + i: (rsi, k, fast, _sharpe_8(rsi, k, fast))
    for i, (rsi, k, fast) in enumerate(itertools.product((25.0, 30.0, 35.0), (2.0, 3.0), (10, 20)))
}
# Sweep 9: one dimension (an int setting); run 302's Sharpe is NaN, which counts as none.
SWEEP_9 = {301: (0, 0.4), 302: (1, float("nan"))}


def _insert_run(url, sweep_id, run_id, grid, folds, **settings):
    columns = ", ".join(settings)
    sql_rows(
        url,
        f"insert into marts.sweep_runs (sweep_id, run_id, run_no, start_d, end_d, folds, grid_names, created_at, "
        f"rt_rsi_sell, rt_max_exposure_per_sector, {columns}) "
        f"values (%s, %s, %s, '2024-01-01', '2024-01-30', %s, %s, now(), 70, 0.3, {', '.join(['%s'] * len(settings))})",
        (sweep_id, run_id, run_id % 100, folds, grid, *settings.values()),
    )


def _insert_summary(url, sweep_id, run_id, sharpe):
    row = "(%s, %s, %s, '2024-01-01', '2024-01-30', 30, %s, %s, 0.15, %s, %s, %s, 0.55, 1.3, %s)"
    sql_rows(
        url,
        f"insert into marts.sweep_summary values {row}, {row}",
        (sweep_id, run_id, "strategy", 0.01, 0.001 * run_id, sharpe, sharpe, -0.001 * run_id, run_id % 50)
        + (sweep_id, run_id, "buy_and_hold_SPY", 0.04, 0.08, 9.9, 9.9, -0.05, 1),  # must never show as a run's
    )


@pytest.fixture(scope="module")
def sweep_db(ops_db):
    url = ops_db("sweep_page")
    sql_rows(url, DDL)
    for run_id, (rsi, k, sharpe) in SWEEP_7.items():
        _insert_run(url, 7, run_id, ["rt_rsi_buy", "rt_atr_stop_k"], 2, rt_rsi_buy=rsi, rt_atr_stop_k=k, rt_sma_fast=20)
        _insert_summary(url, 7, run_id, sharpe)
    grid_8 = ["rt_rsi_buy", "rt_atr_stop_k", "rt_sma_fast"]
    for run_id, (rsi, k, fast, sharpe) in SWEEP_8.items():
        _insert_run(url, 8, run_id, grid_8, None, rt_rsi_buy=rsi, rt_atr_stop_k=k, rt_sma_fast=fast)
        _insert_summary(url, 8, run_id, sharpe)
    for run_id, (flag, sharpe) in SWEEP_9.items():
        _insert_run(url, 9, run_id, ["rt_enable_atr_stop"], None, rt_enable_atr_stop=flag)
        _insert_summary(url, 9, run_id, sharpe)
    # 30 days for every run: equity rising at a run's own pace, the benchmark the same for all.
    sql_rows(
        url,
        """
        insert into marts.sweep_daily
        select
            r.sweep_id, r.run_id, r.start_d + i, 1000, 100000 + i * mod(r.run_id, 7) * 50, 99000, 0.9, 0,
            100000 + i * 120
        from marts.sweep_runs as r
        cross join generate_series(0, 29) as i
        """,
    )
    sql_rows(
        url,
        """
        insert into marts.sweep_walkforward values
            (7, 1, '2024-01-01', '2024-01-10', '2024-01-11', '2024-01-20', 102, 1.4, 0.012, 0.35, 1.1, -0.02, 4, 0.012),
            (7, 2, '2024-01-01', '2024-01-20', '2024-01-21', '2024-01-30', 105, 1.3, 0.0179, 0.52, 0.7, -0.03, 5,
             0.0301)
        """,
    )
    return url


def _section(page: str, key: str) -> str:
    match = re.search(rf'<section id="{key}">(.*?)</section>', page, re.S)
    assert match, f"no section {key}"
    return match.group(1)


def _table(section: str) -> list[list[str]]:
    """Every row (header first) of the section's first table, as the text of its cells."""
    body = re.search(r"<table>(.*?)</table>", section, re.S).group(1)
    return [
        [html.unescape(c) for c in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row)]
        for row in re.findall(r"<tr>(.*?)</tr>", body)
    ]


def _page(url, sweep_id, tmp_path) -> str:
    path = write_sweep_page(url, sweep_id, tmp_path / "out")
    assert path == tmp_path / "out" / f"sweep_{sweep_id}.html"
    return path.read_text()


def test_heatmap_cells_sit_at_their_grid_values(sweep_db, tmp_path):
    page = _page(sweep_db, 7, tmp_path)
    assert "<h1>Parameter sweep 7: 2024-01-01..2024-01-30, 6 runs</h1>" in page
    assert _table(_section(page, "heatmap_values")) == [
        ["rt_atr_stop_k \\ rt_rsi_buy", "25", "30", "35"],
        ["2", "0.5000", "-", "1.2000"],
        ["3", "1.2000", "0.8000", "-0.3000"],
    ]
    assert "best Sharpe among" not in page  # only two dimensions: each cell is one run
    heatmap = _section(page, "heatmap")
    assert len(re.findall(r'<img class="chart" alt="Sharpe heatmap[^"]*" src="data:image/png;base64,', heatmap)) == 1


def test_best_runs_in_order_with_their_settings(sweep_db, tmp_path):
    page = _page(sweep_db, 7, tmp_path)
    top = _table(_section(page, "top_runs"))
    assert top[0] == ["run_id", "rt_rsi_buy", "rt_atr_stop_k", "CAGR", "Sharpe", "max drawdown", "trades"]
    assert [row[0] for row in top[1:]] == ["102", "105", "104", "101", "106", "103"]  # tie 102/105: lower first
    assert top[1] == ["102", "25", "3", "0.1020", "1.2000", "-0.1020", "2"]
    assert top[-1][4] == ""  # no Sharpe: last, shown blank
    equity = _section(page, "equity")
    assert "run 102 (rt_rsi_buy=25, rt_atr_stop_k=3); run 105 (rt_rsi_buy=35, rt_atr_stop_k=2); run 104" in equity
    assert "run 103" not in equity  # the five best only
    assert len(re.findall(r'src="data:image/png;base64,', equity)) == 1


def test_walkforward_rows_or_the_line_saying_none_was_asked(sweep_db, tmp_path):
    walk = _section(_page(sweep_db, 7, tmp_path), "walkforward")
    rows = _table(walk)
    assert rows[0][:6] == ["fold", "in sample", "out of sample", "run_id", "rt_rsi_buy", "rt_atr_stop_k"]
    assert [r[:6] for r in rows[1:]] == [
        ["1", "2024-01-01 to 2024-01-10", "2024-01-11 to 2024-01-20", "102", "25", "3"],
        ["2", "2024-01-01 to 2024-01-20", "2024-01-21 to 2024-01-30", "105", "35", "2"],
    ]
    assert rows[2][-1] == "0.0301"
    assert "2 folds" in walk and "chained out-of-sample return 3.01%" in walk
    other = _section(_page(sweep_db, 8, tmp_path), "walkforward")
    assert "No walk-forward was asked for this sweep (FOLDS unset)." in other
    assert "<table>" not in other


def test_more_than_two_dimensions_show_the_best_of_each_cell(sweep_db, tmp_path):
    page = _page(sweep_db, 8, tmp_path)
    assert "12 runs" in page
    assert "best Sharpe among the runs sharing its rt_rsi_buy and rt_atr_stop_k" in page
    assert "(the grid also varies rt_sma_fast)" in page
    assert _table(_section(page, "heatmap_values")) == [
        ["rt_atr_stop_k \\ rt_rsi_buy", "25", "30", "35"],
        ["2", "0.7500", "1.2500", "1.7500"],
        ["3", "0.8500", "1.3000", "1.8500"],  # (30, 3): fast 20 has no Sharpe, fast 10's 1.30 is the best
    ]
    top = _table(_section(page, "top_runs"))
    sharpes = [row[5] for row in top[1:]]
    assert sharpes == [
        "1.8500",
        "1.8000",
        "1.7500",
        "1.7000",
        "1.3000",
        "1.2500",
        "1.2000",
        "0.8500",
        "0.8000",
        "0.7500",
    ]


def test_one_dimension_is_a_single_row_and_nan_is_no_sharpe(sweep_db, tmp_path):
    page = _page(sweep_db, 9, tmp_path)
    assert _table(_section(page, "heatmap_values")) == [["rt_enable_atr_stop", "0", "1"], ["Sharpe", "0.4000", "-"]]
    assert [row[0] for row in _table(_section(page, "top_runs"))[1:]] == ["301", "302"]


def test_page_is_self_contained(sweep_db, tmp_path):
    page = _page(sweep_db, 7, tmp_path)
    srcs = re.findall(r'<img[^>]+src="([^"]+)"', page)
    assert len(srcs) == 2 and all(s.startswith("data:image/png;base64,") for s in srcs)
    assert not re.search(r'(src|href)="(https?:)?//', page)
    assert "<script" not in page


def test_a_sweep_to_the_newest_bars_shows_its_last_traded_day(sweep_db, tmp_path):
    _insert_run(sweep_db, 12, 1201, ["rt_rsi_buy"], None, rt_rsi_buy=25.0)
    sql_rows(sweep_db, "update marts.sweep_runs set end_d = null where sweep_id = 12")
    _insert_summary(sweep_db, 12, 1201, 0.4)
    assert "<h1>Parameter sweep 12: 2024-01-01..2024-01-30, 1 runs</h1>" in _page(sweep_db, 12, tmp_path)


def test_grid_names_must_be_setting_columns(sweep_db, tmp_path):
    hostile = ["rt_rsi_buy", 'rt_atr_stop_k" from pg_user; --']
    _insert_run(sweep_db, 10, 1001, hostile, None, rt_rsi_buy=25.0)
    _insert_run(sweep_db, 11, 1101, ["rt_not_a_setting"], None, rt_rsi_buy=25.0)
    for sweep_id in (10, 11):
        with pytest.raises(SweepPageError, match="not setting columns of marts.sweep_runs"):
            write_sweep_page(sweep_db, sweep_id, tmp_path)
    with pytest.raises(SweepPageError, match="no runs for sweep 99"):
        write_sweep_page(sweep_db, 99, tmp_path)
    assert not list(tmp_path.glob("sweep_*.html"))


@pytest.mark.skipif(browser.CHROMIUM is None, reason=browser.SKIP_REASON)
def test_charts_render_in_headless_chromium(sweep_db, tmp_path):
    page = write_sweep_page(sweep_db, 7, tmp_path)
    images = browser.image_sizes(page, tmp_path)
    assert len(images) == 2  # the heatmap and the equity curves
    for alt, complete, width, height in images:
        assert complete and width > 0 and height > 0, alt
    shot = browser.screenshot(page, tmp_path / "sweep.png", tmp_path)
    assert shot.exists() and shot.stat().st_size > 10_000
