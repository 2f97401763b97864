{#- Forecast error and drift of the BACKTESTS per market, model and delivery day: daily, rolling 7- and 28-day
    MAEs and the shared drift rule (macros/forecast_drift_rule.sql), as fct_forecast_drift applies it to the live
    forecasts. -#}

with

accuracy as (

    select * from {{ ref('fct_backtest_forecast_accuracy') }}
    where has_actual

),

daily as (

    select
        market_code,
        model_id,
        model_name,
        currency,
        delivery_date_local,
        model_name as model_version,
        count(*)::integer as scored_mtu_count,
        sum(absolute_error_per_mwh order by delivery_start_utc) as absolute_error_sum,
        count(weekly_naive_absolute_error_per_mwh)::integer as naive_scored_mtu_count,
        sum(weekly_naive_absolute_error_per_mwh order by delivery_start_utc) as naive_absolute_error_sum
    from accuracy
    group by
        market_code,
        model_id,
        model_name,
        currency,
        delivery_date_local

),

windows as (

    {{ rolling_forecast_errors('daily', ['market_code', 'model_id', 'model_name']) }}

),

final as (

    select
        *,
        {{ audit_columns() }}
    from windows

)

select * from final
