with

source as (

    select * from {{ source('ckw', 'ckw_plant_telemetry_hourly') }}

),

renamed as (

    select

        ----------  ids
        plant_id,

        ---------- counts
        n_samples,
        n_running,

        ---------- numerics (sums and counts, so late rows merge exactly)
        active_power_sum_mw,
        n_active_power,
        active_power_min_mw,
        active_power_max_mw,
        wind_speed_sum_kmh,
        n_wind_speed,

        ---------- timestamps
        hour_start_utc,
        aggregated_at_utc

    from source

)

select * from renamed
