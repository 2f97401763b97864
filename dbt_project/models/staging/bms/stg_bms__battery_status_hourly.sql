with

source as (

    select * from {{ source('bms', 'bms_battery_status_hourly') }}

),

renamed as (

    select

        ----------  ids
        battery_id,

        ---------- counts and sums
        n_samples,
        n_available,
        soc_sum_pct,
        n_soc,
        soc_min_pct,
        soc_max_pct,
        active_power_sum_mw,
        n_active_power,

        ---------- timestamps
        hour_start_utc,
        aggregated_at_utc

    from source

)

select * from renamed
