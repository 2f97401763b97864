with

source as (

    select * from {{ source('griddesk_bidding', 'bid_backtest_days') }}

),

renamed as (

    select

        ----------  ids
        run_id,
        market_code,
        source_name,
        strategy,

        ---------- money
        currency,
        revenue,
        degradation_cost,
        end_soc_value_per_mwh,
        pnl,
        perfect_foresight_revenue,

        ---------- battery
        soc_start_pct,
        soc_end_pct,
        charged_mwh,
        discharged_mwh,
        drawn_mwh,

        ---------- orders and solver
        trades,
        steps,
        solve_ms,
        is_fallback,

        ---------- dates
        delivery_date_local

    from source

)

select * from renamed
