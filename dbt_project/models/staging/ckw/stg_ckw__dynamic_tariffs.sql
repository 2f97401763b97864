with

source as (

    select * from {{ source('ckw', 'ckw_dynamic_tariffs') }}

),

renamed as (

    select

        ----------  ids
        batch_id,
        tariff_name,
        tariff_type,

        ---------- numerics (as published, never converted)
        price_per_kwh,
        currency,
        unit,

        ---------- timestamps
        interval_start_utc,
        interval_end_utc

    from source

)

select * from renamed
