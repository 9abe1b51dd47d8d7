{{ stage_actions('yfinance') }}
