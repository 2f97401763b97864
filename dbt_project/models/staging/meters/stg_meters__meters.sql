with

source as (

    select * from {{ source('meters', 'meters') }}

),

renamed as (

    select

        ----------  ids
        meter_id,
        site_name,

        ---------- attributes
        timezone,
        unit,
        resolution_minutes::integer as resolution_minutes,
        data_source,

        ---------- timestamps
        updated_at_utc

    from source

)

select * from renamed
