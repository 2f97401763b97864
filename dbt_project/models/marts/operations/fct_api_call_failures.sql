{{ config(materialized='table') }}

{#- Every failed API call still in the raw call log (the recent errors): when, which API and endpoint, the HTTP
    status or the connection error, and which attempt it was. No URL query, header or token is ever logged. -#}

with

calls as (

    select * from {{ ref('stg_griddesk_api__call_log') }}
    where not is_success

),

final as (

    select
        call_id,
        split_part(endpoint, '.', 1) as api_code,
        endpoint,
        feed,
        method,
        url_path,
        requested_at_utc,
        status_code,
        is_timeout_or_connection_error,
        error_message,
        attempt,
        latency_ms,
        run_id,
        {{ audit_columns() }}
    from calls

)

select * from final
