{{ config(materialized='table') }}

with

results as (

    select * from {{ ref('fct_data_quality_results') }}

),

final as (

    -- One verdict per (day, suite, scope) for BI: "can yesterday's data be trusted?"
    select
        delivery_date_local,
        suite_name,
        market_code,
        count(*) as n_expectations,
        count(*) filter (where not is_success) as n_failed,
        count(*) filter (where not is_success and severity = 'critical') as n_critical_failed,
        count(*) filter (where not is_success and severity = 'warning') as n_warning_failed,
        count(*) filter (where is_blocking_failure) = 0 as is_trusted,
        case
            when count(*) filter (where is_blocking_failure) > 0 then 'blocked'
            when count(*) filter (where not is_success) > 0 then 'warnings'
            else 'trusted'
        end as status,
        coalesce(
            string_agg(expectation_id, ', ' order by severity, expectation_id) filter (where not is_success), ''
        ) as failed_expectations,
        max(audit_run_id) as audit_run_id,
        max(audit_validated_at_utc) as audit_validated_at_utc
    from results
    group by delivery_date_local, suite_name, market_code

)

select * from final
