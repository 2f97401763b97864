{#- Error and drift of the LIVE price forecasts (the ones the desk bid on) per market and delivery day: daily,
    rolling 7- and 28-day MAEs next to the weekly naive's, and the drift verdict of the shared rule
    (macros/forecast_drift_rule.sql) that the drift email and Grafana's alert rule read. Built from
    fct_price_forecast_daily_scores; every scored model version of a day counts, weighted by its scored MTUs. -#}

with

scores as (

    select * from {{ ref('fct_price_forecast_daily_scores') }}
    where scored_mtu_count > 0

),

daily as (

    select
        market_code,
        currency,
        delivery_date_local,
        string_agg(distinct model_version, ', ' order by model_version) as model_version,
        sum(scored_mtu_count)::integer as scored_mtu_count,
        sum(forecast_mae_per_mwh * scored_mtu_count order by model_version, forecast_run_id) as absolute_error_sum,
        sum(naive_scored_mtu_count)::integer as naive_scored_mtu_count,
        sum(
            weekly_naive_mae_per_mwh * naive_scored_mtu_count order by model_version, forecast_run_id
        ) as naive_absolute_error_sum
    from scores
    group by
        market_code,
        currency,
        delivery_date_local

),

windows as (

    {{ rolling_forecast_errors('daily', ['market_code']) }}

),

final as (

    select
        *,
        {{ audit_columns() }}
    from windows

)

select * from final
