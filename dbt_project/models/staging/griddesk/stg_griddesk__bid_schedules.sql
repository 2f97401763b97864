with

source as (

    select * from {{ source('griddesk', 'bid_schedules') }}

),

renamed as (

    select

        ----------  ids
        schedule_id,
        market_code,
        mtu_index::integer as mtu_index,
        forecast_model_version,

        ---------- decision
        action,
        decision as energy_decision,
        charge_mw,
        discharge_mw,
        net_position_mw,
        coalesce(consumption_mw, 0.0) as consumption_mw,
        coalesce(excess_mw, 0.0) as excess_mw,
        soc_mwh,
        soc_pct,

        ---------- prices and money
        forecast_price_per_mwh,
        expected_revenue,
        currency,

        ---------- battery
        battery_power_mw,
        battery_energy_mwh,

        ---------- dates and timestamps
        delivery_date_local,
        delivery_start_utc,
        resolution_minutes::integer as resolution_minutes,
        created_at_utc

    from source

)

select * from renamed
