{{ stage_bars('sample') }}
