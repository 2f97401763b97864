with

source as (

    select * from {{ source('openmeteo', 'weather_locations') }}

),

renamed as (

    select

        ----------  ids
        location_code,
        location_name,

        ---------- attributes
        data_source,
        is_reanalysis,
        latitude,
        longitude

    from source

)

select * from renamed
