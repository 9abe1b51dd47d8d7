"""Charts for the daily report: matplotlib to PNG, returned as `data:` URIs so the page is one file.

Uses matplotlib's object API (Figure, no pyplot): no GUI backend, no global state between reports.
"""

from __future__ import annotations

import base64
import datetime as dt
import io

from matplotlib.figure import Figure


def to_data_uri(fig: Figure) -> str:
    """The figure as a PNG `data:` URI (shared by every page that embeds charts: the daily report, the sweep page)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def equity_drawdown(days: list[dt.date], equity: list[float], drawdown: list[float]) -> str:
    """Equity curve above, drawdown (as a negative percentage) below, sharing the date axis."""
    fig = Figure(figsize=(9, 4.8))
    top, bottom = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [2, 1]})
    top.plot(days, equity, color="#1f6feb", linewidth=1.4)
    top.set_ylabel("equity")
    top.grid(alpha=0.3)
    top.set_title("Paper portfolio: equity and drawdown")
    dd = [-abs(x) * 100 if x is not None else 0.0 for x in drawdown]
    bottom.fill_between(days, dd, 0, color="#d1242f", alpha=0.35, linewidth=0)
    bottom.set_ylabel("drawdown %")
    bottom.grid(alpha=0.3)
    fig.autofmt_xdate()
    return to_data_uri(fig)


def sector_exposure(sectors: list[str], weights: list[float], cap: float) -> str:
    """Horizontal bars of each sector's weight of equity, with the cap as a dashed line."""
    fig = Figure(figsize=(9, 0.45 * max(len(sectors), 3) + 1.2))
    ax = fig.subplots()
    colors = ["#d1242f" if w > cap + 1e-12 else "#2da44e" for w in weights]
    ax.barh(sectors, [w * 100 for w in weights], color=colors)
    ax.axvline(cap * 100, color="black", linestyle="--", linewidth=1, label=f"cap {cap:.0%}")
    ax.invert_yaxis()
    ax.set_xlabel("% of equity")
    ax.set_title("Sector exposure against the cap")
    ax.legend(loc="lower right")
    ax.grid(axis="x", alpha=0.3)
    return to_data_uri(fig)


def price_with_sma(symbol: str, days: list[dt.date], closes: list[float], smas: list[float | None]) -> str:
    """The market filter's view: the filter symbol's close and its moving average."""
    fig = Figure(figsize=(9, 3.6))
    ax = fig.subplots()
    ax.plot(days, closes, color="#1f6feb", linewidth=1.2, label=f"{symbol} close")
    points = [(d, s) for d, s in zip(days, smas, strict=True) if s is not None]
    if points:
        ax.plot([p[0] for p in points], [p[1] for p in points], color="#bf8700", linewidth=1.2, label="SMA")
    ax.set_title(f"{symbol}: close and moving average")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left")
    fig.autofmt_xdate()
    return to_data_uri(fig)


def job_timings(jobs: list[str], seconds: list[float]) -> str:
    fig = Figure(figsize=(9, 0.4 * max(len(jobs), 3) + 1.0))
    ax = fig.subplots()
    ax.barh(jobs, seconds, color="#8250df")
    ax.invert_yaxis()
    ax.set_xlabel("seconds")
    ax.set_title("Job timings of this run")
    ax.grid(axis="x", alpha=0.3)
    return to_data_uri(fig)
