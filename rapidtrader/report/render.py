"""Render a Report as one self-contained HTML page (inline CSS, charts as data: URIs) and as Markdown."""

from __future__ import annotations

import datetime as dt
import html
from decimal import Decimal

from rapidtrader.report.build import Report, Section, Table

CSS = """
body { font: 14px/1.45 -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 24px auto;
       max-width: 1000px; color: #1f2328; padding: 0 16px; }
h1 { font-size: 22px; margin-bottom: 4px; } h2 { font-size: 17px; border-bottom: 1px solid #d0d7de;
       padding-bottom: 4px; margin-top: 28px; }
h3 { font-size: 14px; margin: 14px 0 4px; }
table { border-collapse: collapse; margin: 6px 0 12px; font-size: 13px; }
th, td { border: 1px solid #d0d7de; padding: 3px 8px; text-align: left; }
th { background: #f6f8fa; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
.na { color: #9a6700; font-style: italic; } .meta { color: #656d76; }
img { max-width: 100%; display: block; margin: 8px 0; }
"""


def fmt(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float | Decimal):
        v = float(value)
        return f"{v:,.4f}" if abs(v) < 10 else f"{v:,.2f}"
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    return str(value)


def _is_num(value) -> bool:
    return isinstance(value, int | float | Decimal) and not isinstance(value, bool)


def html_table(t: Table) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in t.columns)
    body = []
    for row in t.rows:
        cells = "".join(
            f'<td class="num">{html.escape(fmt(v))}</td>' if _is_num(v) else f"<td>{html.escape(fmt(v))}</td>"
            for v in row
        )
        body.append(f"<tr>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def html_section(s: Section) -> str:
    parts = [f'<section id="{s.key}"><h2>{html.escape(s.title)}</h2>']
    if s.note:
        parts.append(f'<p class="na">{html.escape(s.note)}</p>')
    for line in s.lines:
        parts.append(f"<p>{html.escape(line)}</p>")
    for caption, table in s.tables:
        if caption:
            parts.append(f"<h3>{html.escape(caption)}</h3>")
        parts.append(html_table(table))
    for alt, uri in s.images:
        parts.append(f'<img class="chart" alt="{html.escape(alt)}" src="{uri}">')
    parts.append("</section>")
    return "\n".join(parts)


def html_page(title: str, meta: str, sections: list[Section]) -> str:
    """One self-contained page (inline CSS, no script, nothing fetched): the title, a meta line, the sections.
    Shared by the daily report and the sweep page so both look the same."""
    body = "\n".join(html_section(s) for s in sections)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1"><style>{CSS}</style></head>
<body><h1>{html.escape(title)}</h1>
<p class="meta">{html.escape(meta)}</p>
{body}
</body></html>
"""


def to_html(report: Report) -> str:
    title = f"RapidTrader daily report {report.session or ''}".strip()
    meta = f"Generated {report.generated_at.strftime('%Y-%m-%d %H:%M:%S %Z')} · run {report.run_id or 'n/a'}"
    return html_page(title, meta, report.sections)


def _md_cell(value) -> str:
    return fmt(value).replace("|", "\\|").replace("\n", " ")


def _md_table(t: Table, limit: int = 25) -> list[str]:
    out = ["| " + " | ".join(t.columns) + " |", "|" + "---|" * len(t.columns)]
    out += ["| " + " | ".join(_md_cell(v) for v in row) + " |" for row in t.rows[:limit]]
    if len(t.rows) > limit:
        out.append(f"\n_{len(t.rows) - limit} more rows in the HTML report._")
    return out


def to_markdown(report: Report) -> str:
    """The summary for email bodies and chat: text and tables, charts named but not embedded."""
    out = [f"# RapidTrader daily report {report.session or ''}".rstrip(), ""]
    out.append(f"Generated {report.generated_at.strftime('%Y-%m-%d %H:%M:%S %Z')} · run {report.run_id or 'n/a'}")
    for s in report.sections:
        out += ["", f"## {s.title}", ""]
        if s.note:
            out.append(f"_{s.note}_")
        out += [f"- {line}" for line in s.lines]
        for caption, table in s.tables:
            out += ["", f"**{caption}**", ""] if caption else [""]
            out += _md_table(table)
        for alt, _ in s.images:
            out.append(f"\n_Chart: {alt} (in the HTML report)._")
    return "\n".join(out) + "\n"
