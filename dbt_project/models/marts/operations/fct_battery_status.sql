{{ config(materialized='table') }}

with

latest_batches as (

    {{ latest_feed_batches('battery_status') }}

),

samples as (

    {{ latest_batch_rows(ref('stg_bms__battery_status')) }}

),

five_minute as (

    select
        battery_id,
        measured_at_utc as interval_start_utc,
        5 as resolution_minutes,
        false as is_hourly_aggregate,
        1 as n_samples,
        availability,
        case when is_available then 1.0 else 0.0 end as available_share,
        soc_pct,
        soc_pct as soc_min_pct,
        soc_pct as soc_max_pct,
        active_power_mw,
        available_charge_power_mw,
        available_discharge_power_mw
    from samples

),

-- samples older than the retention period live on as hourly aggregates
hourly as (

    select
        battery_id,
        hour_start_utc as interval_start_utc,
        60 as resolution_minutes,
        true as is_hourly_aggregate,
        n_samples,
        null::text as availability,
        n_available::double precision / nullif(n_samples, 0) as available_share,
        soc_sum_pct / nullif(n_soc, 0) as soc_pct,
        soc_min_pct,
        soc_max_pct,
        active_power_sum_mw / nullif(n_active_power, 0) as active_power_mw,
        null::double precision as available_charge_power_mw,
        null::double precision as available_discharge_power_mw
    from {{ ref('stg_bms__battery_status_hourly') }}

),

unioned as (

    select * from five_minute
    union all
    select * from hourly

),

final as (

    select
        battery_id,
        upper(replace(battery_id, 'griddesk-bess-', '')) as market_code,
        interval_start_utc,
        interval_start_utc + make_interval(mins => resolution_minutes) as interval_end_utc,
        resolution_minutes,
        is_hourly_aggregate,
        n_samples,
        availability,
        available_share,
        soc_pct,
        soc_min_pct,
        soc_max_pct,
        active_power_mw,
        -- energy at the grid connection: + delivered (discharge), - taken (charge)
        active_power_mw * resolution_minutes / 60.0 as net_energy_mwh,
        available_charge_power_mw,
        available_discharge_power_mw,
        {{ audit_columns() }}
    from unioned

)

select * from final
