{{ stage_ticker_changes('sample') }}
