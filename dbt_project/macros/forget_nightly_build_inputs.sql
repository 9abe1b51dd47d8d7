{#
    Every command that writes the warehouse (build, run, seed, snapshot) deletes the record of the last
    nightly build's inputs as it starts (rapidtrader/build_inputs.py): a backtest, a sweep, a manual or a
    failed build leaves the next `make eod` building, never skipping on the strength of a record this
    command may have made untrue. Read-only commands (freshness, test, compile, docs) keep it.
#}
{% macro forget_nightly_build_inputs() %}
    {% if execute and flags.WHICH in ['build', 'run', 'seed', 'snapshot'] %}
        do $$
        begin
            if to_regclass('ops.nightly_build_inputs') is not null then
                delete from ops.nightly_build_inputs;
            end if;
        end
        $$
    {% else %}
        select 1
    {% endif %}
{% endmacro %}
