{{ config(materialized='view') }}

-- The open positions of the ledger's latest day (empty when the account is flat).
select positions_daily.*

from {{ ref('positions_daily') }} as positions_daily
where
    positions_daily.d = (
        select max(ledger.d) from {{ ref('ledger') }} as ledger
        where ledger.record_type = 'day'
    )
