with

source as (

    select * from {{ source('griddesk', 'market_reference') }}

),

renamed as (

    select

        ----------  ids
        market_code,
        bidding_zone_eic,

        ---------- text
        market_name,
        timezone,
        currency,
        notes,

        ---------- numerics
        mtu_minutes::integer as mtu_minutes,

        ---------- local clock times on D-1
        gate_closure_local,
        price_publication_local,
        exogenous_publication_local,

        ---------- booleans
        is_tradable

    from source

)

select * from renamed
