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

    {{ latest_feed_batches(['weather_observations', 'weather_forecasts'], only_new=true) }}

),

-- observations and forecasts, long: one row per location, kind, valid hour (and issue time, for forecasts)
unioned as (
{% for kind, staged in [
    ('observation', ref('stg_openmeteo__observations')),
    ('forecast', ref('stg_openmeteo__forecasts')),
] %}
    select
        stg.location_code,
        '{{ kind }}'::text as value_kind,
        {{ 'stg.issued_at_utc' if kind == 'forecast' else 'null::timestamptz as issued_at_utc' }},
        stg.valid_time_utc,
        {{ 'stg.lead_hours' if kind == 'forecast' else 'null::integer as lead_hours' }},
        stg.temperature_2m_c,
        stg.wind_speed_10m_m_s,
        stg.shortwave_radiation_w_m2,
        stg.batch_id,
        latest_batches.window_start_utc as batch_window_start_utc,
        latest_batches.loaded_at_utc
    from {{ staged }} as stg
    inner join latest_batches on stg.batch_id = latest_batches.batch_id
    {% if not loop.last %}union all{% endif %}
    {% endfor %}
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
