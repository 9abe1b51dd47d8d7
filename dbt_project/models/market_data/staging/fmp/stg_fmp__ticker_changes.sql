{{ stage_ticker_changes('fmp') }}
