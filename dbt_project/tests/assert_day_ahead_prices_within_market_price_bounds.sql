{{ config(severity='warn') }}
-- Day-ahead prices lie within the harmonised min/max clearing price valid on their delivery day (dim_markets).
-- A warning, not an error: a breach means a feed or a bounds table is wrong, and the desk must look.
with

prices as (

    select * from {{ ref('fct_day_ahead_prices') }}

),

markets as (

    select * from {{ ref('dim_markets') }}

)

select
    prices.market_code,
    prices.delivery_start_utc,
    prices.resolution_minutes,
    prices.price_per_mwh,
    markets.min_price_per_mwh,
    markets.max_price_per_mwh
from prices
inner join markets
    on
        prices.market_code = markets.market_code
        and prices.delivery_date_local >= markets.valid_from
        and (markets.valid_to is null or prices.delivery_date_local < markets.valid_to)
where
    prices.price_per_mwh < markets.min_price_per_mwh
    or prices.price_per_mwh > markets.max_price_per_mwh
