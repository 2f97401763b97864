with

source as (

    select * from {{ source('meters', 'meter_readings') }}

),

renamed as (

    select

        ----------  ids
        batch_id,
        meter_id,

        ---------- numerics: in the source data a 0 marks a missing reading, so it becomes null here
        energy_kwh as reported_energy_kwh,
        case when energy_kwh = 0 then null else energy_kwh end as energy_kwh,
        energy_kwh is null or energy_kwh = 0 as is_missing,
        case
            when energy_kwh is null then 'null_value'
            when energy_kwh = 0 then 'zero_reading'
        end as missing_reason,
        resolution_minutes::integer as resolution_minutes,

        ---------- timestamps
        interval_start_utc,
        interval_start_utc + make_interval(mins => resolution_minutes::integer) as interval_end_utc

    from source

)

select * from renamed
