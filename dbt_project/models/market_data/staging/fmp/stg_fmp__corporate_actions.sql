{{ stage_actions('fmp') }}
