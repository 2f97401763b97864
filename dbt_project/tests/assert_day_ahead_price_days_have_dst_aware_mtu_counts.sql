-- Every delivery day in fct_day_ahead_prices has one row per MTU of its local day, at each resolution:
-- 23/24/25 hourly or 92/96/100 quarter-hourly rows, the day's length coming from the market's time zone.
-- Returns the days that have too few (a gap) or too many (a duplicate or a wrong day) rows.
with

day_counts as (

    select
        market_code,
        delivery_date_local,
        resolution_minutes,
        timezone,
        count(*) as mtu_count
    from {{ ref('fct_day_ahead_prices') }}
    group by market_code, delivery_date_local, resolution_minutes, timezone

),

checked as (

    select
        *,
        {{ mtus_in_local_day('delivery_date_local', 'timezone', 'resolution_minutes') }} as expected_mtu_count
    from day_counts

)

select * from checked
where mtu_count != expected_mtu_count
