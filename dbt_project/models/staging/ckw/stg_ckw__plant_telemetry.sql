with

source as (

    select * from {{ source('ckw', 'ckw_plant_telemetry') }}

),

renamed as (

    select

        ----------  ids
        batch_id,
        plant_id,

        ---------- status
        operating_status,
        operating_status_source,
        operating_status = 'running' as is_running,

        ---------- numerics
        active_power_mw,
        reactive_power_mvar,
        voltage_kv,
        current_a,
        wind_speed_kmh,

        ---------- timestamps
        measured_at_utc

    from source

)

select * from renamed
