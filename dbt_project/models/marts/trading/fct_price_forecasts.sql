{#- Incremental although actuals arrive after the forecast: a day is rebuilt whenever its forecasts or the
    version of its realised prices change (actual_version is part of the lineage), see the yml. -#}
{{ day_grained_incremental_config(['market_code', 'delivery_start_utc', 'model_version']) }}

{{ assert_built_with_current_as_of(ref('int_entsoe_deliveries_visible_as_of')) }}

{#- Day lineage: per model, the forecast rows (count, newest creation) and the version of the day's prices. -#}
{%- set lineage = day_lineage(
    source=ref('stg_griddesk__price_forecasts'),
    alias='forecasts',
    keys=['model_version'],
    measures={
        'row_count': ('count(*)', 'count(*)'),
        'created_at_utc': ('max(forecasts.created_at_utc)', 'max(audit_created_at_utc)'),
    },
    realised_price_version='actual_version',
) -%}

with

forecasts as (

    select * from {{ ref('stg_griddesk__price_forecasts') }}

),

markets as (

    select * from {{ ref('stg_griddesk__market_reference') }}

),

prices as (

    select * from {{ ref('int_day_ahead_prices_unioned') }}

),

joined as (

    select
        forecasts.forecast_run_id,
        forecasts.market_code,
        forecasts.delivery_date_local,
        forecasts.delivery_start_utc,
        forecasts.delivery_start_utc + make_interval(mins => forecasts.resolution_minutes) as delivery_end_utc,
        forecasts.resolution_minutes,
        {{ local_time_columns('forecasts.delivery_start_utc', 'markets.timezone') }},
        forecasts.model_family,
        forecasts.model_version,
        forecasts.forecast_price_per_mwh,
        forecasts.lower_price_per_mwh,
        forecasts.upper_price_per_mwh,
        forecasts.interval_width_pct,
        forecasts.currency,
        forecasts.training_start_utc,
        forecasts.training_end_utc,
        (
            extract(epoch from forecasts.training_end_utc - forecasts.training_start_utc) / 86400
        )::double precision as training_window_days,
        forecasts.cutoff_utc,
        (
            extract(epoch from forecasts.delivery_start_utc - forecasts.cutoff_utc) / 3600
        )::double precision as lead_time_hours,
        forecasts.created_at_utc,
        -- the realised price at the forecast's own resolution (hourly means for hourly forecasts of 15-min days)
        prices.price_per_mwh as actual_price_per_mwh,
        prices.version as actual_version,
        prices.published_at_utc as actual_published_at_utc,
        prices.loaded_at_utc as actual_loaded_at_utc
    from forecasts
    inner join markets
        on forecasts.market_code = markets.market_code
    left join prices
        on
            forecasts.market_code = prices.market_code
            and forecasts.delivery_start_utc = prices.delivery_start_utc
            and forecasts.resolution_minutes = prices.resolution_minutes

),

final as (

    select
        forecast_run_id,
        market_code,
        delivery_date_local,
        delivery_start_utc,
        delivery_end_utc,
        resolution_minutes,
        {{ local_time_column_names() | join(', ') }},
        model_family,
        model_version,
        forecast_price_per_mwh,
        lower_price_per_mwh,
        upper_price_per_mwh,
        interval_width_pct,
        currency,
        training_start_utc,
        training_end_utc,
        training_window_days,
        cutoff_utc,
        lead_time_hours,
        created_at_utc as audit_created_at_utc,
        actual_price_per_mwh,
        actual_version,
        actual_published_at_utc,
        actual_price_per_mwh is not null as has_actual,
        forecast_price_per_mwh - actual_price_per_mwh as error_per_mwh,
        abs(forecast_price_per_mwh - actual_price_per_mwh) as absolute_error_per_mwh,
        -- null without an interval: a model with too few scored days has its interval collapsed onto the point
        case
            when upper_price_per_mwh > lower_price_per_mwh
                then actual_price_per_mwh between lower_price_per_mwh and upper_price_per_mwh
        end as is_actual_within_interval,
        actual_loaded_at_utc as audit_actual_loaded_at_utc,
        {{ audit_columns() }}
    from joined

)

select * from final
{{ where_lineage_changed(lineage) }}
