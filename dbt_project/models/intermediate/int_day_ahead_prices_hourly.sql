with

native as (

    select * from {{ ref('int_day_ahead_prices_native') }}

),

with_hour as (

    select
        *,
        -- start of the local clock hour; subtracting the local minutes also works for half-hour UTC offsets
        delivery_start_utc
        - make_interval(mins => extract(minute from delivery_start_local)::integer) as hour_start_utc
    from native

),

hourly as (

    select
        market_code,
        currency,
        timezone,
        delivery_date_local,
        hour_start_utc,
        min(resolution_minutes) as source_resolution_minutes,
        count(*)::integer as source_mtu_count,
        -- the convention: the hourly price is the arithmetic mean of the MTU prices (see the yml)
        avg(price_per_mwh order by delivery_start_utc) as price_per_mwh,
        bool_or(is_imputed) as is_imputed,
        max(version) as version,
        max(published_at_utc) as published_at_utc,
        max(loaded_at_utc) as loaded_at_utc
    from with_hour
    group by market_code, currency, timezone, delivery_date_local, hour_start_utc

),

final as (

    select
        market_code,
        currency,
        timezone,
        delivery_date_local,
        hour_start_utc as delivery_start_utc,
        hour_start_utc + interval '1 hour' as delivery_end_utc,
        60 as resolution_minutes,
        source_resolution_minutes,
        source_mtu_count,
        source_resolution_minutes = 60 as is_native_resolution,
        price_per_mwh,
        is_imputed,
        {{ local_time_columns('hour_start_utc', 'timezone') }},
        version,
        published_at_utc,
        loaded_at_utc
    from hourly

)

select * from final
