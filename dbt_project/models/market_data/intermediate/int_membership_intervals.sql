-- S&P 500 membership as intervals [added_d, removed_d) of each company, named by today's ticker. A user's
-- own interval file replaces everything else; otherwise the bundled events (pitindex), extended by FMP's
-- changes dated after the last bundled event. Each 'added' pairs with the first 'removed' of the same
-- ticker after it; a second 'added' before that removal extends the same interval.
with

user_intervals as (

    select * from {{ ref('stg_sample__membership_intervals') }}

),

bundled_events as (

    select * from {{ ref('stg_sample__membership_events') }}

),

vendor_events as (

    select * from {{ ref('stg_fmp__membership_events') }}

),

events as (

    select * from bundled_events

    union all

    select vendor_events.*
    from vendor_events
    where vendor_events.d > (select coalesce(max(bundled_events.d), '-infinity'::date) from bundled_events)

),

added as (

    select
        symbol,
        d as added_d,
        source_ref

    from events
    where action = 'added'

),

paired as (

    select
        added.symbol,
        added.added_d,
        added.source_ref,
        (
            select min(removed.d)
            from events as removed
            where removed.symbol = added.symbol and removed.action = 'removed' and removed.d > added.added_d
        ) as removed_d

    from added

),

from_events as (

    select
        symbol,
        min(added_d) as added_d,
        removed_d,
        min(source_ref) as source_ref

    from paired
    group by symbol, removed_d

),

final as (

    select
        symbol,
        added_d,
        removed_d,
        split_part(source_ref, ':', 1) as source

    from user_intervals

    union all

    select
        symbol,
        added_d,
        removed_d,
        split_part(source_ref, ':', 1) as source

    from from_events
    where not exists (select 1 from user_intervals)

)

select * from final
