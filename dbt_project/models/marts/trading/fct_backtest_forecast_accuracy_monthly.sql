{%- set model_grain = ['market_code', 'model_id', 'model_name', 'model_family', 'currency'] -%}

with

accuracy as (

    select * from {{ ref('fct_backtest_forecast_accuracy') }}
    where has_actual

),

monthly as (

    select
        {{ model_grain | join(', ') }},
        date_trunc('month', delivery_date_local)::date as delivery_month,
        count(*)::integer as scored_mtu_count,
        count(weekly_naive_absolute_error_per_mwh)::integer as naive_scored_mtu_count,
        count(is_actual_within_interval)::integer as interval_mtu_count,
        count(distinct delivery_date_local) filter (where is_champion_on_day)::integer as champion_day_count,
        avg(absolute_error_per_mwh) as mae_per_mwh,
        avg(weekly_naive_absolute_error_per_mwh) as weekly_naive_mae_per_mwh,
        100 * avg(smape_term) as smape_pct,
        sqrt(avg(squared_error)) as rmse_per_mwh,
        100 * avg(case when is_actual_within_interval then 1.0 else 0.0 end) filter (
            where is_actual_within_interval is not null
        ) as interval_coverage_pct
    from accuracy
    group by
        {{ model_grain | join(', ') }},
        date_trunc('month', delivery_date_local)::date

),

final as (

    select
        {{ model_grain | join(', ') }},
        delivery_month,
        scored_mtu_count,
        naive_scored_mtu_count,
        interval_mtu_count,
        champion_day_count,
        mae_per_mwh,
        weekly_naive_mae_per_mwh,
        -- rMAE only when the naive covers the same hours; otherwise the ratio compares different samples
        case
            when naive_scored_mtu_count = scored_mtu_count and weekly_naive_mae_per_mwh > 0
                then mae_per_mwh / weekly_naive_mae_per_mwh
        end as rmae,
        smape_pct,
        rmse_per_mwh,
        interval_coverage_pct::double precision as interval_coverage_pct,
        {{ audit_columns() }}
    from monthly

)

select * from final
