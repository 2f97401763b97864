with

visible_deliveries as (

    select * from {{ ref('int_entsoe_deliveries_visible_as_of') }}
    where feed = 'day_ahead_prices'

),

prices as (

    select * from {{ ref('stg_entsoe__day_ahead_prices') }}

),

visible_prices as (

    select
        prices.*,
        visible_deliveries.loaded_at_utc
    from prices
    inner join visible_deliveries
        on prices.delivery_id = visible_deliveries.delivery_id

)

select * from visible_prices
