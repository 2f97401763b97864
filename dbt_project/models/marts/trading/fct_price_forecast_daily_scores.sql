{{ assert_built_with_current_as_of(ref('int_entsoe_deliveries_visible_as_of')) }}

{#- One row per forecast run, market-day and resolution. -#}
{%- set run_day_grain = [
    'market_code', 'delivery_date_local', 'forecast_run_id', 'model_family', 'model_version', 'currency',
    'resolution_minutes',
] -%}

with

forecasts as (

    select * from {{ ref('fct_price_forecasts') }}

),

prices as (

    select * from {{ ref('int_day_ahead_prices_unioned') }}

),

markets as (

    select * from {{ ref('stg_griddesk__market_reference') }}

),

with_weekly_naive as (

    select
        forecasts.*,
        weekly_naive.price_per_mwh as weekly_naive_price_per_mwh
    from forecasts
    left join prices as weekly_naive
        on
            forecasts.market_code = weekly_naive.market_code
            and forecasts.resolution_minutes = weekly_naive.resolution_minutes
            -- same hour a week earlier, matched in UTC (168 h): an hour off in the week after a DST change
            and forecasts.delivery_start_utc - interval '168 hours' = weekly_naive.delivery_start_utc

),

daily as (

    select
        {{ run_day_grain | join(', ') }},
        min(cutoff_utc) as cutoff_utc,
        count(*)::integer as forecast_mtu_count,
        count(*) filter (where has_actual)::integer as scored_mtu_count,
        count(*) filter (
            where has_actual and weekly_naive_price_per_mwh is not null
        )::integer as naive_scored_mtu_count,
        -- floating-point sums depend on the order of the rows: fix it, so a rerun gives identical bits
        avg(absolute_error_per_mwh order by delivery_start_utc) as forecast_mae_per_mwh,
        avg(
            abs(weekly_naive_price_per_mwh - actual_price_per_mwh) order by delivery_start_utc
        ) as weekly_naive_mae_per_mwh,
        avg(actual_price_per_mwh order by delivery_start_utc) as mean_actual_price_per_mwh,
        100 * avg(
            case when is_actual_within_interval then 1.0 else 0.0 end order by delivery_start_utc
        ) filter (
            where has_actual and is_actual_within_interval is not null
        ) as interval_coverage_pct
    from with_weekly_naive
    group by {{ run_day_grain | join(', ') }}

),

with_expected_count as (

    select
        daily.*,
        {{ mtus_in_local_day(
            'daily.delivery_date_local', 'markets.timezone', 'daily.resolution_minutes'
        ) }} as expected_mtu_count
    from daily
    inner join markets
        on daily.market_code = markets.market_code

),

final as (

    select
        {{ run_day_grain | join(', ') }},
        cutoff_utc,
        expected_mtu_count,
        forecast_mtu_count,
        scored_mtu_count,
        naive_scored_mtu_count,
        scored_mtu_count = expected_mtu_count as is_fully_scored,
        forecast_mae_per_mwh,
        weekly_naive_mae_per_mwh,
        -- rMAE only when both MAEs cover the same hours; otherwise the ratio compares different samples
        case
            when naive_scored_mtu_count = scored_mtu_count and weekly_naive_mae_per_mwh > 0
                then forecast_mae_per_mwh / weekly_naive_mae_per_mwh
        end as relative_mae,
        mean_actual_price_per_mwh,
        interval_coverage_pct::double precision as interval_coverage_pct,
        {{ audit_columns() }}
    from with_expected_count

)

select * from final
