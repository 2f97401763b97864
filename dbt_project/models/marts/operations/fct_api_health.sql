{{ config(materialized='table') }}

with

calls as (

    select * from {{ ref('stg_griddesk_api__call_log') }}

),

recent as (

    select
        feed,
        endpoint,
        date_trunc('hour', requested_at_utc at time zone 'UTC') at time zone 'UTC' as hour_start_utc,
        false as is_retention_aggregate,
        count(*) as n_calls,
        count(*) filter (where is_success) as n_success,
        count(*) filter (where is_timeout_or_connection_error) as n_timeouts,
        count(*) filter (where status_code = 401) as n_http_401,
        count(*) filter (where status_code = 429) as n_http_429,
        count(*) filter (where status_code >= 500) as n_http_5xx,
        sum(latency_ms) as latency_sum_ms,
        percentile_cont(0.5) within group (order by latency_ms) as latency_p50_ms,
        percentile_cont(0.95) within group (order by latency_ms) as latency_p95_ms,
        sum(response_bytes) as response_bytes
    from calls
    group by feed, endpoint, date_trunc('hour', requested_at_utc at time zone 'UTC') at time zone 'UTC'

),

-- hours older than the retention period, folded by griddesk.feeds.retention
folded as (

    select
        feed,
        endpoint,
        hour_start_utc,
        true as is_retention_aggregate,
        n_calls::bigint as n_calls,
        n_success::bigint as n_success,
        n_timeouts::bigint as n_timeouts,
        n_http_401::bigint as n_http_401,
        n_http_429::bigint as n_http_429,
        n_http_5xx::bigint as n_http_5xx,
        latency_sum_ms,
        latency_p50_ms,
        latency_p95_ms,
        response_bytes::numeric as response_bytes
    from {{ ref('stg_griddesk_api__call_log_hourly') }}

),

unioned as (

    select * from recent
    union all
    select * from folded

),

final as (

    select
        feed,
        endpoint,
        hour_start_utc,
        is_retention_aggregate,
        n_calls,
        n_success,
        n_calls - n_success as n_failures,
        n_success::double precision / nullif(n_calls, 0) as success_rate,
        n_timeouts,
        n_http_401,
        n_http_429,
        n_http_5xx,
        n_calls - n_success - n_timeouts - n_http_401 - n_http_429 - n_http_5xx as n_other_failures,
        latency_sum_ms / nullif(n_calls, 0) as latency_mean_ms,
        latency_p50_ms,
        latency_p95_ms,
        response_bytes::bigint as response_bytes,
        {{ audit_columns() }}
    from unioned

)

select * from final
