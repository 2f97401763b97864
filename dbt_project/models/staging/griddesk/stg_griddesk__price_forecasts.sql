with

source as (

    select * from {{ source('griddesk', 'price_forecasts') }}

),

renamed as (

    select

        ----------  ids
        forecast_run_id,
        market_code,
        model_family,
        model_version,

        ---------- numerics
        forecast_price_per_mwh,
        lower_price_per_mwh,
        upper_price_per_mwh,
        interval_width_pct::integer as interval_width_pct,
        currency,
        resolution_minutes::integer as resolution_minutes,

        ---------- dates and timestamps
        delivery_date_local,
        delivery_start_utc,
        training_start_utc,
        training_end_utc,
        cutoff_utc,
        created_at_utc

    from source

)

select * from renamed
