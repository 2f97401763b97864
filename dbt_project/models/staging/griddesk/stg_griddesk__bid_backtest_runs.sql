with

source as (

    select * from {{ source('griddesk_bidding', 'bid_backtest_runs') }}

),

renamed as (

    select

        ----------  ids
        run_id,
        market_code,

        ---------- period
        test_start,
        test_end,
        n_days,
        is_full_test_period,

        ---------- battery
        power_mw,
        energy_mwh,
        energy_mwh * ((battery ->> 'soc_max_pct')::double precision - (battery ->> 'soc_min_pct')::double precision)
        / 100.0 as usable_energy_mwh,
        (battery ->> 'initial_soc_pct')::double precision as initial_soc_pct,

        ---------- strategy and results
        forecast_model,
        production_strategy,
        currency,
        perfect_foresight_daily_revenue,
        perfect_foresight_multiday_revenue,
        wall_seconds,
        optimiser_seconds,

        ---------- timestamps
        started_at_utc

    from source

)

select * from renamed
