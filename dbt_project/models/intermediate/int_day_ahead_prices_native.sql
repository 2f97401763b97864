with

prices as (

    select * from {{ ref('int_day_ahead_prices_versioned_as_of') }}

),

markets as (

    select * from {{ ref('stg_griddesk__market_reference') }}

),

localised as (

    select
        prices.market_code,
        prices.currency,
        markets.timezone,
        prices.delivery_date_local,
        prices.delivery_start_utc,
        prices.delivery_start_utc + make_interval(mins => prices.resolution_minutes) as delivery_end_utc,
        prices.resolution_minutes,
        prices.price_per_mwh,
        prices.is_imputed,
        {{ local_time_columns('prices.delivery_start_utc', 'markets.timezone') }},
        prices.version,
        prices.published_at_utc,
        prices.loaded_at_utc
    from prices
    inner join markets
        on prices.market_code = markets.market_code

)

select * from localised
