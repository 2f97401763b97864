with

source as (

    select * from {{ source('openmeteo', 'weather_forecasts') }}

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
        issued_at_utc,
        valid_time_utc,
        (extract(epoch from valid_time_utc - issued_at_utc) / 3600)::integer as lead_hours

    from source

)

select * from renamed
