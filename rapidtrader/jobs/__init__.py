"""Job entry points (`python -m rapidtrader.jobs.<name>`); each step writes a row to ops.job_log."""
