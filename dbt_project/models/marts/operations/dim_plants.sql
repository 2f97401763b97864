{{ config(materialized='table') }}

with

plants as (

    select * from {{ ref('stg_ckw__plants') }}

),

status as (

    select * from {{ ref('fct_plant_status') }}

),

coverage as (

    select
        plant_id,
        min(interval_start_utc) as first_interval_start_utc,
        max(interval_start_utc) as last_interval_start_utc,
        sum(n_samples) as n_samples
    from status
    group by plant_id

),

latest as (

    select distinct on (plant_id)
        plant_id,
        operating_status as latest_operating_status,
        active_power_mw as latest_active_power_mw,
        interval_start_utc as latest_sample_utc
    from status
    where not is_hourly_aggregate
    order by plant_id asc, interval_start_utc desc

),

final as (

    select
        plants.plant_id,
        plants.plant_name,
        plants.technology,
        plants.rated_power_mw,
        plants.timezone,
        plants.operator_name,
        plants.notes,
        coverage.first_interval_start_utc,
        coverage.last_interval_start_utc,
        coalesce(coverage.n_samples, 0) as n_samples,
        latest.latest_operating_status,
        latest.latest_active_power_mw,
        latest.latest_sample_utc,
        {{ audit_columns() }}
    from plants
    left join coverage on plants.plant_id = coverage.plant_id
    left join latest on plants.plant_id = latest.plant_id

)

select * from final
