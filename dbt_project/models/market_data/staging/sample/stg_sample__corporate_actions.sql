{{ stage_actions('sample') }}
