{#- Incremental per market-day: a day is rebuilt when any model's backtest rows of it change (count, creation,
    calibrated intervals), when its realised price gets a new version, or when its champion changes. -#}
{{ day_grained_incremental_config(['model_id', 'delivery_start_utc']) }}

{{ assert_built_with_current_as_of(ref('int_entsoe_deliveries_visible_as_of')) }}

{#- Day lineage: per model, the backtest rows (count, calibrated intervals, newest creation), the version of the
    day's prices and the day's champion. -#}
{%- set lineage = day_lineage(
    source=ref('stg_griddesk__forecast_backtest_forecasts'),
    alias='forecasts',
    keys=['model_id'],
    measures={
        'row_count': ('count(*)', 'count(*)'),
        'interval_count': ('count(forecasts.lower_price_per_mwh)', 'count(lower_price_per_mwh)'),
        'created_at_utc': ('max(forecasts.created_at_utc)', 'max(created_at_utc)'),
        'champion_model_id': ('max(decisions.champion_model_id)', 'max(champion_model_id_of_day)'),
    },
    joins=[{'alias': 'decisions', 'relation': ref('stg_griddesk__forecast_champion_decisions')}],
    realised_price_version='actual_version',
) -%}

with

forecasts as (

    select * from {{ ref('stg_griddesk__forecast_backtest_forecasts') }}

),

models as (

    select * from {{ ref('stg_griddesk__forecast_models') }}

),

decisions as (

    select * from {{ ref('stg_griddesk__forecast_champion_decisions') }}

),

markets as (

    select * from {{ ref('stg_griddesk__market_reference') }}

),

prices as (

    select * from {{ ref('int_day_ahead_prices_unioned') }}

),

joined as (

    select
        forecasts.market_code,
        forecasts.model_id,
        models.model_name,
        models.model_family,
        forecasts.delivery_date_local,
        forecasts.delivery_start_utc,
        forecasts.delivery_start_utc + make_interval(mins => forecasts.resolution_minutes) as delivery_end_utc,
        forecasts.resolution_minutes,
        {{ local_time_columns('forecasts.delivery_start_utc', 'markets.timezone') }},
        forecasts.forecast_price_per_mwh,
        forecasts.lower_price_per_mwh,
        forecasts.upper_price_per_mwh,
        forecasts.interval_width_pct,
        forecasts.interval_method,
        forecasts.currency,
        forecasts.cutoff_utc,
        forecasts.created_at_utc,
        decisions.champion_model_id as champion_model_id_of_day,
        actual.price_per_mwh as actual_price_per_mwh,
        actual.version as actual_version,
        -- same hour a week earlier, matched in UTC (168 h), as fct_price_forecast_daily_scores does
        weekly_naive.price_per_mwh as weekly_naive_price_per_mwh
    from forecasts
    inner join models
        on forecasts.model_id = models.model_id
    inner join markets
        on forecasts.market_code = markets.market_code
    left join decisions
        on
            forecasts.market_code = decisions.market_code
            and forecasts.delivery_date_local = decisions.delivery_date_local
    left join prices as actual
        on
            forecasts.market_code = actual.market_code
            and forecasts.delivery_start_utc = actual.delivery_start_utc
            and forecasts.resolution_minutes = actual.resolution_minutes
    left join prices as weekly_naive
        on
            forecasts.market_code = weekly_naive.market_code
            and forecasts.resolution_minutes = weekly_naive.resolution_minutes
            and forecasts.delivery_start_utc - interval '168 hours' = weekly_naive.delivery_start_utc

),

final as (

    select
        market_code,
        model_id,
        model_name,
        model_family,
        delivery_date_local,
        delivery_start_utc,
        delivery_end_utc,
        resolution_minutes,
        {{ local_time_column_names() | join(', ') }},
        forecast_price_per_mwh,
        lower_price_per_mwh,
        upper_price_per_mwh,
        interval_width_pct,
        interval_method,
        currency,
        cutoff_utc,
        actual_price_per_mwh,
        actual_version,
        actual_price_per_mwh is not null as has_actual,
        forecast_price_per_mwh - actual_price_per_mwh as error_per_mwh,
        abs(forecast_price_per_mwh - actual_price_per_mwh) as absolute_error_per_mwh,
        (forecast_price_per_mwh - actual_price_per_mwh) ^ 2 as squared_error,
        -- epftoolbox's sMAPE term; 0 when forecast and actual are both 0
        case
            when abs(actual_price_per_mwh) + abs(forecast_price_per_mwh) > 0
                then
                    2 * abs(forecast_price_per_mwh - actual_price_per_mwh)
                    / (abs(actual_price_per_mwh) + abs(forecast_price_per_mwh))
            when actual_price_per_mwh is not null then 0.0
        end as smape_term,
        case
            when lower_price_per_mwh is not null and actual_price_per_mwh is not null
                then actual_price_per_mwh between lower_price_per_mwh and upper_price_per_mwh
        end as is_actual_within_interval,
        weekly_naive_price_per_mwh,
        abs(weekly_naive_price_per_mwh - actual_price_per_mwh) as weekly_naive_absolute_error_per_mwh,
        champion_model_id_of_day,
        coalesce(model_id = champion_model_id_of_day, false) as is_champion_on_day,
        created_at_utc,
        {{ audit_columns() }}
    from joined

)

select * from final
{{ where_lineage_changed(lineage) }}
