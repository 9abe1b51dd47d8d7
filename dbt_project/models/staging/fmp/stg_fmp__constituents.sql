{{ stage_constituents('fmp') }}
