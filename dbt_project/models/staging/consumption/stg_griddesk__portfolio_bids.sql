with

source as (

    select * from {{ source('griddesk_consumption', 'portfolio_bids') }}

),

renamed as (

    select

        ----------  ids
        market_code,
        run_id,

        ---------- time
        delivery_date_local,
        delivery_start_utc,
        mtu_minutes::integer as mtu_minutes,
        cutoff_utc,

        ---------- volumes (MWh per MTU) and price
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

        ---------- audit
        audit_created_at_utc

    from source

)

select * from renamed
