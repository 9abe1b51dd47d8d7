{{ stage_rejects('yfinance') }}
