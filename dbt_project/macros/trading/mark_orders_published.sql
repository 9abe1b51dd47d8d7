{#
    Post-hook of orders_eod: the ledger's order rows of the days orders_eod holds become status
    'published'. The ledger fills an order read from an earlier night only when it was published, so an
    order the risk tests stopped expires unfilled instead of trading the next morning.
#}
{% macro rt_mark_orders_published(ledger, published) %}
    update {{ ledger }} as ledger
    set status = 'published'
    where
        ledger.record_type = 'order'
        and ledger.status is null
        and ledger.d in (select distinct published.d from {{ published }} as published)
{% endmacro %}
