with

source as (

    select * from {{ source('griddesk', 'market_price_bounds') }}

),

renamed as (

    select

        ----------  ids
        market_code,

        ---------- numerics
        min_price_per_mwh,
        max_price_per_mwh,

        ---------- dates
        valid_from,
        valid_to,

        ---------- text
        source as bounds_source

    from source

)

select * from renamed
