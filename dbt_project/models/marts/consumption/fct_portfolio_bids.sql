-- The portfolio's joint day-ahead position with the battery per MTU, and the decision (sell / store / consume /
-- buy). `covers_consumption` re-checks that the purchase plus the battery's delivery to the load covers the
-- forecast consumption.

with

bids as (

    select * from {{ ref('stg_griddesk__portfolio_bids') }}

),

final as (

    select
        market_code,
        delivery_date_local,
        delivery_start_utc,
        mtu_minutes,
        consumption_forecast_mwh,
        buy_mwh,
        sell_mwh,
        position_mwh,
        charge_mwh,
        discharge_to_load_mwh,
        discharge_to_grid_mwh,
        soc_mwh,
        price_forecast_per_mwh,
        currency,
        decision,
        n_meters,
        cutoff_utc,
        buy_mwh + discharge_to_load_mwh >= consumption_forecast_mwh - 1e-6 as covers_consumption,
        position_mwh * price_forecast_per_mwh as forecast_cost,
        run_id,
        {{ audit_columns() }}
    from bids

)

select * from final
