with

source as (

    select * from {{ source('griddesk_forecasting', 'forecast_backtest_forecasts') }}

),

renamed as (

    select

        ----------  ids
        model_id,
        market_code,

        ---------- numerics
        forecast_price_per_mwh,
        lower_price_per_mwh,
        upper_price_per_mwh,
        interval_width_pct::integer as interval_width_pct,
        interval_method,
        currency,
        resolution_minutes::integer as resolution_minutes,

        ---------- dates and timestamps
        delivery_date_local,
        delivery_start_utc,
        cutoff_utc,
        created_at_utc

    from source

)

select * from renamed
