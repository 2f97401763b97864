{{ config(materialized='table') }}

with

latest_batches as (

    {{ latest_feed_batches('ckw_plant_telemetry') }}

),

samples as (

    {{ latest_batch_rows(ref('stg_ckw__plant_telemetry')) }}

),

five_minute as (

    select
        plant_id,
        measured_at_utc as interval_start_utc,
        5 as resolution_minutes,
        false as is_hourly_aggregate,
        1 as n_samples,
        operating_status,
        case when is_running then 1.0 else 0.0 end as running_share,
        active_power_mw,
        active_power_mw as active_power_min_mw,
        active_power_mw as active_power_max_mw,
        reactive_power_mvar,
        voltage_kv,
        wind_speed_kmh
    from samples

),

-- samples older than the retention period live on as hourly aggregates
hourly as (

    select
        plant_id,
        hour_start_utc as interval_start_utc,
        60 as resolution_minutes,
        true as is_hourly_aggregate,
        n_samples,
        null::text as operating_status,
        n_running::double precision / nullif(n_samples, 0) as running_share,
        active_power_sum_mw / nullif(n_active_power, 0) as active_power_mw,
        active_power_min_mw,
        active_power_max_mw,
        null::double precision as reactive_power_mvar,
        null::double precision as voltage_kv,
        wind_speed_sum_kmh / nullif(n_wind_speed, 0) as wind_speed_kmh
    from {{ ref('stg_ckw__plant_telemetry_hourly') }}

),

unioned as (

    select * from five_minute
    union all
    select * from hourly

),

final as (

    select
        unioned.plant_id,
        unioned.interval_start_utc,
        unioned.interval_start_utc + make_interval(mins => unioned.resolution_minutes) as interval_end_utc,
        unioned.resolution_minutes,
        unioned.is_hourly_aggregate,
        unioned.n_samples,
        unioned.operating_status,
        unioned.running_share,
        unioned.active_power_mw,
        unioned.active_power_min_mw,
        unioned.active_power_max_mw,
        unioned.active_power_mw * unioned.resolution_minutes / 60.0 as energy_mwh,
        unioned.active_power_mw / nullif(plants.rated_power_mw, 0) as capacity_factor,
        unioned.reactive_power_mvar,
        unioned.voltage_kv,
        unioned.wind_speed_kmh,
        {{ audit_columns() }}
    from unioned
    left join {{ ref('stg_ckw__plants') }} as plants on unioned.plant_id = plants.plant_id

)

select * from final
