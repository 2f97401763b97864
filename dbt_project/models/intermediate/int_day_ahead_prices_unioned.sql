with

hourly as (

    select * from {{ ref('int_day_ahead_prices_hourly') }}

),

sub_hourly as (

    select * from {{ ref('int_day_ahead_prices_native') }}
    where resolution_minutes < 60

),

unioned as (

    select
        market_code,
        currency,
        timezone,
        delivery_date_local,
        delivery_start_utc,
        delivery_end_utc,
        resolution_minutes,
        source_resolution_minutes,
        source_mtu_count,
        is_native_resolution,
        price_per_mwh,
        is_imputed,
        delivery_start_local,
        delivery_hour_local,
        utc_offset_minutes,
        delivery_label_local,
        is_dst_repeated_hour,
        version,
        published_at_utc,
        loaded_at_utc
    from hourly

    union all

    select
        market_code,
        currency,
        timezone,
        delivery_date_local,
        delivery_start_utc,
        delivery_end_utc,
        resolution_minutes,
        resolution_minutes as source_resolution_minutes,
        1 as source_mtu_count,
        true as is_native_resolution,
        price_per_mwh,
        is_imputed,
        delivery_start_local,
        delivery_hour_local,
        utc_offset_minutes,
        delivery_label_local,
        is_dst_repeated_hour,
        version,
        published_at_utc,
        loaded_at_utc
    from sub_hourly

)

select * from unioned
