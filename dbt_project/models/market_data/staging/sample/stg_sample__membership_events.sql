{{ stage_membership_events('sample') }}
