{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key=['location_code', 'value_kind', 'batch_window_start_utc'],
        on_schema_change='fail',
        indexes=[
            {'columns': ['location_code', 'value_kind', 'valid_time_utc', 'issued_at_utc'], 'unique': true},
            {'columns': ['location_code', 'value_kind', 'batch_window_start_utc']},
            {'columns': ['batch_id']},
        ],
    )
}}

with

-- the newest version of every feed window; one not in the mart yet (new, or newly corrected) is rebuilt whole
latest_batches as (

    select * from {{ ref('int_feed_batches_latest') }} as latest
    where
        feed in ('weather_observations', 'weather_forecasts')
        and {{ not_yet_built('latest.batch_id') }}

),

observations as (

    select
        obs.location_code,
        'observation'::text as value_kind,
        null::timestamptz as issued_at_utc,
        obs.valid_time_utc,
        null::integer as lead_hours,
        obs.temperature_2m_c,
        obs.wind_speed_10m_m_s,
        obs.shortwave_radiation_w_m2,
        obs.batch_id,
        latest_batches.window_start_utc as batch_window_start_utc,
        latest_batches.loaded_at_utc
    from {{ ref('stg_openmeteo__observations') }} as obs
    inner join latest_batches on obs.batch_id = latest_batches.batch_id

),

forecasts as (

    select
        fc.location_code,
        'forecast'::text as value_kind,
        fc.issued_at_utc,
        fc.valid_time_utc,
        fc.lead_hours,
        fc.temperature_2m_c,
        fc.wind_speed_10m_m_s,
        fc.shortwave_radiation_w_m2,
        fc.batch_id,
        latest_batches.window_start_utc as batch_window_start_utc,
        latest_batches.loaded_at_utc
    from {{ ref('stg_openmeteo__forecasts') }} as fc
    inner join latest_batches on fc.batch_id = latest_batches.batch_id

),

unioned as (

    select * from observations
    union all
    select * from forecasts

),

final as (

    select
        unioned.location_code,
        locations.location_name,
        locations.data_source,
        coalesce(locations.is_reanalysis, false) as is_reanalysis,
        unioned.value_kind,
        unioned.issued_at_utc,
        unioned.valid_time_utc,
        unioned.lead_hours,
        unioned.temperature_2m_c,
        unioned.wind_speed_10m_m_s,
        unioned.shortwave_radiation_w_m2,
        unioned.batch_id,
        unioned.batch_window_start_utc,
        unioned.loaded_at_utc as audit_loaded_at_utc,
        {{ audit_columns() }}
    from unioned
    left join {{ ref('stg_openmeteo__locations') }} as locations on unioned.location_code = locations.location_code

)

select * from final
