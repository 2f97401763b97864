with

source as (

    select * from {{ source('griddesk_bidding', 'bid_executions') }}

),

renamed as (

    select

        ----------  ids
        order_set_id,
        exchange_order_set_id,
        market_code,
        step_index,
        block_index,

        ---------- order and result
        side,
        volume_mw,
        limit_price_per_mwh,
        clearing_price_per_mwh,
        is_accepted,
        accepted_volume_mw,
        resolution_minutes,
        currency,

        ---------- dates and timestamps
        delivery_date_local,
        delivery_start_utc,
        fetched_at_utc

    from source

)

select * from renamed
