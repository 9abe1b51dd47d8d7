{{ stage_constituents('sample') }}
