{{ stage_rejects('sample') }}
