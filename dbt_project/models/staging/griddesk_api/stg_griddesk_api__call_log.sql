with

source as (

    select * from {{ source('griddesk_api', 'api_call_log') }}

),

renamed as (

    select

        ----------  ids
        call_id,
        feed,
        endpoint,
        method,
        url_path,
        run_id,

        ---------- outcome
        status_code,
        error as error_message,
        coalesce(error is null and status_code between 200 and 299, false) as is_success,
        status_code is null as is_timeout_or_connection_error,
        attempt,

        ---------- numerics
        latency_ms,
        response_bytes,

        ---------- timestamps
        requested_at_utc,
        sim_now_utc

    from source

)

select * from renamed
