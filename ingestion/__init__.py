"""dlt ingestion: one package per source (sample/, fmp/, yfinance/), pipeline.py is the CLI."""
