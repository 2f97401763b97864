with

hourly as (

    select * from {{ ref('int_exogenous_forecasts_hourly') }}

),

sub_hourly as (

    select * from {{ ref('int_exogenous_forecasts_native') }}
    where resolution_minutes < 60

),

unioned as (

    select
        market_code,
        series_code,
        document_type,
        domain_eic,
        delivery_date_local,
        delivery_start_utc,
        delivery_end_utc,
        resolution_minutes,
        is_native_resolution,
        source_resolution_minutes,
        source_mtu_count,
        quantity_mw,
        is_imputed,
        timezone,
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
        series_code,
        document_type,
        domain_eic,
        delivery_date_local,
        delivery_start_utc,
        delivery_end_utc,
        resolution_minutes,
        true as is_native_resolution,
        resolution_minutes as source_resolution_minutes,
        1 as source_mtu_count,
        quantity_mw,
        is_imputed,
        timezone,
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
