{#- How hard the battery works, per market and delivery day, from the day's bid schedule (the plan the orders
    came from; in paper mode nothing was sent): energy in and out, equivalent full cycles, the state-of-charge
    range and the hours it stood idle. -#}

with

schedules as (

    select * from {{ ref('fct_bid_schedules') }}

),

final as (

    select
        market_code,
        delivery_date_local,
        currency,
        max(battery_power_mw) as battery_power_mw,
        max(battery_energy_mwh) as battery_energy_mwh,
        count(*)::integer as mtu_count,
        (sum(resolution_minutes) / 60.0)::double precision as scheduled_hours,
        sum(charge_mw * resolution_minutes / 60.0 order by delivery_start_utc) as charged_energy_mwh,
        sum(discharge_mw * resolution_minutes / 60.0 order by delivery_start_utc) as discharged_energy_mwh,
        sum((charge_mw + discharge_mw) * resolution_minutes / 60.0 order by delivery_start_utc)
            as energy_throughput_mwh,
        -- one full cycle = the usable energy discharged once
        sum(discharge_mw * resolution_minutes / 60.0 order by delivery_start_utc)
        / nullif(max(battery_energy_mwh), 0) as equivalent_full_cycles,
        min(soc_pct) as soc_min_pct,
        max(soc_pct) as soc_max_pct,
        max(soc_pct) - min(soc_pct) as soc_range_pct,
        (coalesce(sum(resolution_minutes) filter (where action = 'idle'), 0) / 60.0)::double precision as idle_hours,
        count(*) filter (where action = 'charge')::integer as charge_mtu_count,
        count(*) filter (where action = 'discharge')::integer as discharge_mtu_count,
        sum(expected_revenue order by delivery_start_utc) as expected_revenue,
        sum(realised_revenue order by delivery_start_utc) as realised_revenue,
        bool_and(has_realised_price) as has_realised_prices,
        {{ audit_columns() }}
    from schedules
    group by
        market_code,
        delivery_date_local,
        currency

)

select * from final
