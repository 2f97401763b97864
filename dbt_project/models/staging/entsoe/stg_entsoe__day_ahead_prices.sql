with

source as (

    select * from {{ source('entsoe', 'day_ahead_prices') }}

),

renamed as (

    select

        ----------  ids
        delivery_id,
        market_code,

        ---------- numerics
        price_per_mwh,
        currency,
        resolution_minutes::integer as resolution_minutes,

        ---------- booleans
        is_imputed,

        ---------- dates and timestamps
        delivery_date_local,
        delivery_start_utc,
        published_at_utc,

        ---------- versions
        version

    from source

)

select * from renamed
