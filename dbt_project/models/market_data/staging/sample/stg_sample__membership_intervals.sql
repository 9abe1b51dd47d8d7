{{ stage_membership_intervals('sample') }}
