{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key=['market_code', 'delivery_date_local'],
        on_schema_change='fail',
        indexes=[
            {'columns': ['run_id', 'suite_name', 'market_code', 'delivery_date_local', 'expectation_id'], 'unique': true},
            {'columns': ['market_code', 'delivery_date_local']},
        ],
    )
}}

{#- Day lineage: the results of each validation run (count, newest validation). -#}
{% set source_lineage %}
    select market_code, delivery_date_local, run_id, suite_name, count(*), max(validated_at_utc)
    from {{ ref('stg_griddesk__dq_validation_results') }}
    group by 1, 2, 3, 4
{% endset %}
{% set built_lineage %}
    select market_code, delivery_date_local, run_id, suite_name, count(*), max(validated_at_utc)
    from {{ this }}
    group by 1, 2, 3, 4
{% endset %}

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

    select
        results.run_id,
        results.suite_name,
        results.expectation_type,
        results.expectation_id,
        results.severity,
        results.market_code,
        results.delivery_date_local,
        results.is_success,
        results.observed_value,
        results.expected_value,
        results.validated_at_utc,
        -- the newest run of a suite on a market-day is the current verdict; older runs are history
        ranked_runs.run_recency_rank = 1 as is_latest_run,
        not results.is_success and results.severity = 'critical' as is_blocking_failure,
        {{ audit_columns() }}
    from results
    inner join ranked_runs
        on
            results.run_id = ranked_runs.run_id
            and results.suite_name = ranked_runs.suite_name
            and results.market_code = ranked_runs.market_code
            and results.delivery_date_local = ranked_runs.delivery_date_local

)

select * from final
{% if is_incremental() %}
where {{ changed_delivery_days(source_lineage, built_lineage) }}
{% endif %}
