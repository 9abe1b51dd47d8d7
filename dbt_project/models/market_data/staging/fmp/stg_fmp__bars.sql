{{ stage_bars('fmp') }}
