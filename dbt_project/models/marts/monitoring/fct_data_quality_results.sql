{{ day_grained_incremental_config(['suite_name', 'market_code', 'delivery_date_local', 'expectation_id']) }}

{#- Day lineage: the newest validation of each suite on the day. -#}
{%- set lineage = day_lineage(
    source=ref('stg_griddesk__dq_validation_results'),
    alias='results',
    keys=['suite_name'],
    measures={'validated_at_utc': ('max(results.validated_at_utc)', 'max(audit_validated_at_utc)')},
) -%}

with

results as (

    select * from {{ ref('stg_griddesk__dq_validation_results') }}

),

runs as (

    select
        run_id,
        suite_name,
        market_code,
        delivery_date_local,
        max(validated_at_utc) as run_validated_at_utc
    from results
    group by run_id, suite_name, market_code, delivery_date_local

),

ranked_runs as (

    select
        *,
        row_number() over (
            partition by suite_name, market_code, delivery_date_local
            order by run_validated_at_utc desc, run_id desc
        ) as run_recency_rank
    from runs

),

final as (

    -- The current verdict: the newest run of each suite on each market-day. Older runs stay in
    -- stg_griddesk__dq_validation_results; which run and when are audit columns, so a rerun that reaches
    -- the same verdict leaves the business columns unchanged.
    select
        results.suite_name,
        results.expectation_type,
        results.expectation_id,
        results.severity,
        results.market_code,
        results.delivery_date_local,
        results.is_success,
        results.observed_value,
        results.expected_value,
        not results.is_success and results.severity = 'critical' as is_blocking_failure,
        results.run_id as audit_run_id,
        results.validated_at_utc as audit_validated_at_utc,
        {{ audit_columns() }}
    from results
    inner join ranked_runs
        on
            results.run_id = ranked_runs.run_id
            and results.suite_name = ranked_runs.suite_name
            and results.market_code = ranked_runs.market_code
            and results.delivery_date_local = ranked_runs.delivery_date_local
    where ranked_runs.run_recency_rank = 1

)

select * from final
{{ where_lineage_changed(lineage) }}
