"""The daily report: `build.build_report()` gathers sections from the marts, `render` turns them into a
self-contained HTML page and a Markdown summary, `charts` draws the PNGs. Entry point:
`python -m rapidtrader.jobs.eod_report`. `sweep_page.write_sweep_page()` writes a parameter sweep's page the
same way (issue 11)."""
