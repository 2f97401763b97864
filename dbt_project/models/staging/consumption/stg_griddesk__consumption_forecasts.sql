with

source as (

    select * from {{ source('griddesk_consumption', 'consumption_forecasts') }}

),

renamed as (

    select

        ----------  ids
        market_code,
        meter_id,
        model_name,
        model_id,
        run_id,

        ---------- time
        delivery_date_local,
        interval_start_utc,
        interval_start_utc + interval '1 hour' as interval_end_utc,
        cutoff_utc,
        weather_issued_at_utc,

        ---------- forecast
        forecast_kwh,
        lower_kwh,
        upper_kwh,
        interval_width_pct::integer as interval_width_pct,
        interval_method,
        is_champion,
        is_oracle_weather,

        ---------- audit
        audit_created_at_utc

    from source

)

select * from renamed
