with

forecasts as (

    select * from {{ ref('int_exogenous_forecasts_versioned_as_of') }}

),

markets as (

    select * from {{ ref('stg_griddesk__market_reference') }}

),

localised as (

    select
        forecasts.market_code,
        forecasts.series_code,
        forecasts.document_type,
        forecasts.domain_eic,
        markets.timezone,
        forecasts.delivery_date_local,
        forecasts.delivery_start_utc,
        forecasts.delivery_start_utc + make_interval(mins => forecasts.resolution_minutes) as delivery_end_utc,
        forecasts.resolution_minutes,
        forecasts.quantity_mw,
        forecasts.is_imputed,
        {{ local_time_columns('forecasts.delivery_start_utc', 'markets.timezone') }},
        forecasts.version,
        forecasts.published_at_utc,
        forecasts.loaded_at_utc
    from forecasts
    inner join markets
        on forecasts.market_code = markets.market_code

)

select * from localised
