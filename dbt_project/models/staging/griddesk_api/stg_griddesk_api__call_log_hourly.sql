with

source as (

    select * from {{ source('griddesk_api', 'api_call_log_hourly') }}

),

renamed as (

    select

        ----------  ids
        feed,
        endpoint,

        ---------- counts
        n_calls,
        n_success,
        n_timeouts,
        n_http_401,
        n_http_429,
        n_http_5xx,

        ---------- numerics
        latency_sum_ms,
        latency_p50_ms,
        latency_p95_ms,
        response_bytes,

        ---------- timestamps
        hour_start_utc,
        aggregated_at_utc

    from source

)

select * from renamed
