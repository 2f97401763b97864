with

source as (

    select * from {{ source('griddesk', 'dq_validation_results') }}

),

renamed as (

    select

        ----------  ids
        run_id,
        suite_name,
        expectation_type,
        expectation_id,
        market_code,

        ---------- outcome
        severity,
        success as is_success,
        observed_value,
        expected as expected_value,

        ---------- dates and timestamps
        delivery_date_local,
        validated_at_utc

    from source

)

select * from renamed
