"""The daily report: `build.build_report()` gathers sections from the marts, `render` turns them into a
self-contained HTML page and a Markdown summary, `charts` draws the PNGs. Entry point:
`python -m rapidtrader.jobs.eod_report`."""
