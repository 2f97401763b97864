{{ config(materialized='table') }}

{#- API health per external API, endpoint and UTC day from the raw call log (every attempt, also the failures a
    retry healed): success rate, exact latency percentiles and the health score. Days older than the log's
    retention (GRIDDESK_FEEDS_RETENTION_DAYS) keep only hourly aggregates: see fct_api_health. -#}

with

calls as (

    select * from {{ ref('stg_griddesk_api__call_log') }}

),

final as (

    select
        split_part(endpoint, '.', 1) as api_code,
        endpoint,
        (requested_at_utc at time zone 'UTC')::date as call_date_utc,
        count(*)::integer as n_calls,
        count(*) filter (where is_success)::integer as n_success,
        (count(*) - count(*) filter (where is_success))::integer as n_failures,
        (count(*) filter (where is_success))::double precision / count(*) as success_rate,
        -- the health score: the share of calls that succeeded within the latency objective
        100.0 * count(*) filter (
            where is_success and latency_ms <= {{ var('api_latency_objective_ms') }}
        ) / count(*) as health_score_pct,
        {{ var('api_latency_objective_ms') }} as latency_objective_ms,
        percentile_cont(0.5) within group (order by latency_ms) as latency_p50_ms,
        percentile_cont(0.95) within group (order by latency_ms) as latency_p95_ms,
        percentile_cont(0.99) within group (order by latency_ms) as latency_p99_ms,
        max(latency_ms) as latency_max_ms,
        count(*) filter (where is_timeout_or_connection_error)::integer as n_timeouts,
        count(*) filter (where status_code between 400 and 499)::integer as n_http_4xx,
        count(*) filter (where status_code >= 500)::integer as n_http_5xx,
        max(requested_at_utc) filter (where not is_success) as last_failure_at_utc,
        {{ audit_columns() }}
    from calls
    group by
        split_part(endpoint, '.', 1),
        endpoint,
        (requested_at_utc at time zone 'UTC')::date

)

select * from final
