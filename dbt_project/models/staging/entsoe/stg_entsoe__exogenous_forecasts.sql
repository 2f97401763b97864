with

source as (

    select * from {{ source('entsoe', 'exogenous_forecasts') }}

),

renamed as (

    select

        ----------  ids
        delivery_id,
        market_code,
        series_code,
        document_type,
        domain_eic,

        ---------- numerics
        quantity_mw,
        resolution_minutes::integer as resolution_minutes,

        ---------- booleans
        is_imputed,

        ---------- dates and timestamps
        delivery_date_local,
        delivery_start_utc,
        published_at_utc,

        ---------- versions
        version

    from source

)

select * from renamed
