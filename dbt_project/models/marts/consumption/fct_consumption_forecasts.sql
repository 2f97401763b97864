-- Per meter, model and hour of the paired market's delivery day: the forecast with its interval, whether it was
-- the champion, and the reading once published (null while unknown or missing).

with

forecasts as (

    select * from {{ ref('stg_griddesk__consumption_forecasts') }}

),

readings as (

    select
        meter_id,
        interval_start_utc,
        energy_kwh,
        is_missing
    from {{ ref('fct_meter_consumption') }}

),

final as (

    select
        forecasts.market_code,
        forecasts.meter_id,
        forecasts.model_name,
        forecasts.model_id,
        forecasts.delivery_date_local,
        forecasts.interval_start_utc,
        forecasts.interval_end_utc,
        forecasts.cutoff_utc,
        forecasts.weather_issued_at_utc,
        forecasts.forecast_kwh,
        forecasts.lower_kwh,
        forecasts.upper_kwh,
        forecasts.interval_width_pct,
        forecasts.interval_method,
        forecasts.is_champion,
        readings.energy_kwh as actual_kwh,
        coalesce(readings.is_missing, true) as is_actual_missing,
        forecasts.run_id,
        {{ audit_columns() }}
    from forecasts
    left join readings
        on
            forecasts.meter_id = readings.meter_id
            and forecasts.interval_start_utc = readings.interval_start_utc

)

select * from final
