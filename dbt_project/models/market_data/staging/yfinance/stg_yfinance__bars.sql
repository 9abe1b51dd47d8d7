{{ stage_bars('yfinance') }}
