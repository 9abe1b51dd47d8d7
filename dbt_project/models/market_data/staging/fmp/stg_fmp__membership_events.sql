{{ stage_membership_events('fmp') }}
