{#- The version register as of var('as_of_utc'): for every feed, market, series and local delivery day, the
    newest stored delivery published at or before the as-of instant (or the newest stored one, unset). -#}
with

deliveries as (

    select * from {{ ref('stg_entsoe__deliveries') }}
    where {{ published_by_as_of('published_at_utc') }}

),

ranked as (

    -- a version is a whole delivery day, so the latest one is chosen per day, never per MTU:
    -- a day republished at another resolution never mixes MTUs of two versions
    select
        *,
        row_number() over (
            partition by feed, market_code, series_code, delivery_date_local
            order by version desc
        ) as version_rank
    from deliveries

),

visible as (

    select
        delivery_id,
        feed,
        market_code,
        series_code,
        delivery_date_local,
        version,
        published_at_utc,
        loaded_at_utc,
        -- the instant this view was built for, so marts can refuse a view built for another one
        {{ as_of_utc_sql() }} as as_of_utc
    from ranked
    where version_rank = 1

)

select * from visible
