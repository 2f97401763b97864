{{ config(materialized='table') }}

with

meters as (

    select * from {{ ref('stg_meters__meters') }}

),

coverage as (

    select
        meter_id,
        min(interval_start_utc) as first_interval_start_utc,
        max(interval_start_utc) as last_interval_start_utc,
        count(*) as n_readings,
        count(*) filter (where is_missing) as n_missing_readings,
        avg(energy_kwh) as mean_energy_kwh
    from {{ ref('fct_meter_consumption') }}
    group by meter_id

),

final as (

    select
        meters.meter_id,
        meters.site_name,
        meters.timezone,
        meters.unit,
        meters.resolution_minutes,
        meters.data_source,
        coverage.first_interval_start_utc,
        coverage.last_interval_start_utc,
        coalesce(coverage.n_readings, 0) as n_readings,
        coalesce(coverage.n_missing_readings, 0) as n_missing_readings,
        100.0 * coverage.n_missing_readings / nullif(coverage.n_readings, 0) as missing_share_pct,
        coverage.mean_energy_kwh,
        {{ audit_columns() }}
    from meters
    left join coverage on meters.meter_id = coverage.meter_id

)

select * from final
