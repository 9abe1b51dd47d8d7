{{ stage_rejects('fmp') }}
