with

markets as (

    select * from {{ ref('stg_griddesk__market_reference') }}

),

price_bounds as (

    select * from {{ ref('stg_griddesk__market_price_bounds') }}

),

final as (

    select
        markets.market_code,
        markets.market_name,
        markets.bidding_zone_eic,
        markets.timezone,
        markets.currency,
        markets.mtu_minutes,
        markets.gate_closure_local,
        markets.price_publication_local,
        markets.exogenous_publication_local,
        markets.is_tradable,
        markets.notes,
        price_bounds.min_price_per_mwh,
        price_bounds.max_price_per_mwh,
        price_bounds.bounds_source,
        price_bounds.valid_from,
        price_bounds.valid_to,
        -- open-ended interval; not compared with today's date, so the mart stays a function of the raw data
        price_bounds.valid_to is null as is_current,
        {{ audit_columns() }}
    from markets
    left join price_bounds
        on markets.market_code = price_bounds.market_code

)

select * from final
