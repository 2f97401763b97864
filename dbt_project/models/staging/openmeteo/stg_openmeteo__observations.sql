with

source as (

    select * from {{ source('openmeteo', 'weather_observations') }}

),

renamed as (

    select

        ----------  ids
        batch_id,
        location_code,

        ---------- numerics
        temperature_2m_c,
        wind_speed_10m_m_s,
        shortwave_radiation_w_m2,

        ---------- timestamps
        valid_time_utc

    from source

)

select * from renamed
