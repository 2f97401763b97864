{#- Incremental by run: a backtest run is written once and never changes, so only new runs are added. -#}
{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key=['run_id', 'source_name', 'strategy', 'delivery_date_local'],
        on_schema_change='fail',
        indexes=[
            {'columns': ['run_id', 'source_name', 'strategy', 'delivery_date_local'], 'unique': true},
            {'columns': ['market_code', 'delivery_date_local']},
        ],
    )
}}

with

days as (

    select * from {{ ref('stg_griddesk__bid_backtest_days') }}
    {% if is_incremental() %}
    where run_id not in (select distinct built.run_id from {{ this }} as built)
    {% endif %}

),

runs as (

    select * from {{ ref('stg_griddesk__bid_backtest_runs') }}

),

cumulated as (

    select
        days.*,
        runs.power_mw,
        runs.energy_mwh,
        runs.production_strategy,
        runs.forecast_model,
        sum(days.pnl) over strategy_days as cumulative_pnl,
        sum(days.perfect_foresight_revenue) over strategy_days as cumulative_perfect_foresight_revenue
    from days
    inner join runs
        on days.run_id = runs.run_id
    window strategy_days as (
        partition by days.run_id, days.source_name, days.strategy
        order by days.delivery_date_local
        rows between unbounded preceding and current row
    )

),

final as (

    select
        run_id,
        market_code,
        source_name,
        strategy,
        strategy = production_strategy and source_name not in ('perfect_foresight', 'lear_ens_published')
            as is_production_strategy,
        forecast_model,
        delivery_date_local,
        currency,
        power_mw,
        energy_mwh,
        revenue,
        degradation_cost,
        end_soc_value_per_mwh,
        pnl,
        cumulative_pnl,
        perfect_foresight_revenue,
        cumulative_perfect_foresight_revenue,
        -- fall of the cumulative P&L from its running peak (0 at a new peak)
        greatest(
            max(cumulative_pnl) over (
                partition by run_id, source_name, strategy
                order by delivery_date_local
                rows between unbounded preceding and current row
            ),
            0
        ) - cumulative_pnl as drawdown,
        soc_start_pct,
        soc_end_pct,
        charged_mwh,
        discharged_mwh,
        drawn_mwh,
        trades,
        steps,
        solve_ms,
        is_fallback,
        pnl > 0 as is_profitable_day,
        {{ audit_columns() }}
    from cumulated

)

select * from final
