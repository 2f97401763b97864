with

visible_deliveries as (

    select * from {{ ref('int_entsoe_deliveries_visible_as_of') }}
    where feed = 'exogenous_forecasts'

),

forecasts as (

    select * from {{ ref('stg_entsoe__exogenous_forecasts') }}

),

visible_forecasts as (

    select
        forecasts.*,
        visible_deliveries.loaded_at_utc
    from forecasts
    inner join visible_deliveries
        on forecasts.delivery_id = visible_deliveries.delivery_id

)

select * from visible_forecasts
