-- The portfolio's hourly consumption forecast: the sum of every meter's champion forecast. The actual is the sum
-- of the readings when every forecast meter has a non-missing reading for the hour (else null).

with

champions as (

    select * from {{ ref('fct_consumption_forecasts') }}
    where is_champion

),

final as (

    select
        market_code,
        delivery_date_local,
        interval_start_utc,
        min(cutoff_utc) as cutoff_utc,
        count(*) as n_meters,
        sum(forecast_kwh) as forecast_kwh,
        -- summing bounds assumes the meters' errors move together: a conservative (wide) portfolio interval
        sum(lower_kwh) as lower_kwh,
        sum(upper_kwh) as upper_kwh,
        sum(forecast_kwh) / 1000.0 as forecast_mwh,
        case when bool_and(not is_actual_missing) then sum(actual_kwh) end as actual_kwh,
        {{ audit_columns() }}
    from champions
    group by market_code, delivery_date_local, interval_start_utc

)

select * from final
