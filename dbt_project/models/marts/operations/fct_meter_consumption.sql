{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key=['reading_date_local'],
        on_schema_change='fail',
        indexes=[
            {'columns': ['meter_id', 'interval_start_utc'], 'unique': true},
            {'columns': ['reading_date_local']},
            {'columns': ['batch_id']},
        ],
    )
}}

with

-- the newest version of every feed window; one not in the mart yet (new, or newly corrected) is rebuilt whole
latest_batches as (

    {{ latest_feed_batches('meter_readings', only_new=true) }}

),

readings as (

    {{ latest_batch_rows(ref('stg_meters__readings'), ['window_start_utc', 'loaded_at_utc']) }}

),

final as (

    select
        meter_id,
        (window_start_utc at time zone 'Europe/London')::date as reading_date_local,
        interval_start_utc,
        interval_end_utc,
        resolution_minutes,
        'Europe/London'::text as timezone,
        {{ local_time_columns('interval_start_utc', "'Europe/London'") }},
        energy_kwh,
        reported_energy_kwh,
        is_missing,
        missing_reason,
        batch_id,
        loaded_at_utc as audit_loaded_at_utc,
        {{ audit_columns() }}
    from readings

)

select * from final
