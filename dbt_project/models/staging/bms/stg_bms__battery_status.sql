with

source as (

    select * from {{ source('bms', 'bms_battery_status') }}

),

renamed as (

    select

        ----------  ids
        batch_id,
        battery_id,

        ---------- numerics
        soc_pct,
        active_power_mw,
        available_charge_power_mw,
        available_discharge_power_mw,

        ---------- status
        availability,
        availability = 'available' as is_available,

        ---------- timestamps
        measured_at_utc

    from source

)

select * from renamed
