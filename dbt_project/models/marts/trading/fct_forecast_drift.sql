{#- Daily drift indicator per market and model: the MAE of the last 28 days against the model's long-run MAE
    (every scored day before that window). Hour-weighted: sums of absolute errors over sums of hours. -#}

{% set rolling_days = 28 %}
{% set drift_threshold = 1.25 %}

with

accuracy as (

    select * from {{ ref('fct_forecast_accuracy') }}
    where has_actual

),

daily as (

    select
        market_code,
        model_id,
        model_name,
        currency,
        delivery_date_local,
        count(*)::integer as scored_mtu_count,
        sum(absolute_error_per_mwh) as absolute_error_sum
    from accuracy
    group by
        market_code,
        model_id,
        model_name,
        currency,
        delivery_date_local

),

windows as (

    select
        market_code,
        model_id,
        model_name,
        currency,
        delivery_date_local,
        scored_mtu_count,
        absolute_error_sum,
        sum(absolute_error_sum) over rolling_window as rolling_absolute_error_sum,
        sum(scored_mtu_count) over rolling_window as rolling_mtu_count,
        count(*) over rolling_window as rolling_day_count,
        sum(absolute_error_sum) over baseline_window as baseline_absolute_error_sum,
        sum(scored_mtu_count) over baseline_window as baseline_mtu_count,
        count(*) over baseline_window as baseline_day_count
    from daily
    window
        rolling_window as (
            partition by market_code, model_id order by delivery_date_local
            range between interval '{{ rolling_days - 1 }} days' preceding and current row
        ),
        baseline_window as (
            partition by market_code, model_id order by delivery_date_local
            range between unbounded preceding and interval '{{ rolling_days }} days' preceding
        )

),

final as (

    select
        market_code,
        model_id,
        model_name,
        currency,
        delivery_date_local,
        scored_mtu_count,
        absolute_error_sum / nullif(scored_mtu_count, 0) as daily_mae_per_mwh,
        rolling_day_count::integer as rolling_day_count,
        rolling_absolute_error_sum / nullif(rolling_mtu_count, 0) as rolling_mae_per_mwh,
        coalesce(baseline_day_count, 0)::integer as baseline_day_count,
        baseline_absolute_error_sum / nullif(baseline_mtu_count, 0) as baseline_mae_per_mwh,
        (rolling_absolute_error_sum / nullif(rolling_mtu_count, 0))
        / nullif(baseline_absolute_error_sum / nullif(baseline_mtu_count, 0), 0) as drift_ratio,
        -- a full rolling window, a baseline of at least two windows, and 25 % worse than usual
        coalesce(
            rolling_day_count >= {{ rolling_days }}
            and baseline_day_count >= {{ 2 * rolling_days }}
            and (rolling_absolute_error_sum / nullif(rolling_mtu_count, 0))
            > {{ drift_threshold }} * (baseline_absolute_error_sum / nullif(baseline_mtu_count, 0)),
            false
        ) as is_drifting,
        {{ audit_columns() }}
    from windows

)

select * from final
