with

source as (

    select * from {{ source('griddesk', 'bid_orders') }}

),

renamed as (

    select

        ----------  ids
        schedule_id,
        market_code,

        ---------- order
        side,
        volume_mw,
        limit_price_per_mwh,
        currency,
        status,

        ---------- dates and timestamps
        delivery_date_local,
        delivery_start_utc,
        created_at_utc

    from source

)

select * from renamed
