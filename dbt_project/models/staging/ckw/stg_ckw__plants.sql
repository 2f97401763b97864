with

source as (

    select * from {{ source('ckw', 'plants') }}

),

renamed as (

    select

        ----------  ids
        plant_id,
        plant_name,

        ---------- attributes
        technology,
        rated_power_mw,
        timezone,
        operator as operator_name,
        notes,

        ---------- timestamps
        updated_at_utc

    from source

)

select * from renamed
