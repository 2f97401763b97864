{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key=['tariff_name', 'delivery_date_local'],
        on_schema_change='fail',
        indexes=[
            {'columns': ['tariff_name', 'tariff_type', 'interval_start_utc'], 'unique': true},
            {'columns': ['tariff_name', 'delivery_date_local']},
            {'columns': ['batch_id']},
        ],
    )
}}

with

-- the newest version of every feed window; one not in the mart yet (new, or newly corrected) is rebuilt whole
latest_batches as (

    {{ latest_feed_batches('ckw_dynamic_tariffs', only_new=true) }}

),

tariffs as (

    {{ latest_batch_rows(ref('stg_ckw__dynamic_tariffs'), ['window_start_utc', 'published_at_utc', 'loaded_at_utc']) }}

),

final as (

    select
        tariff_name,
        tariff_type,
        (window_start_utc at time zone 'Europe/Zurich')::date as delivery_date_local,
        interval_start_utc,
        interval_end_utc,
        (extract(epoch from interval_end_utc - interval_start_utc) / 60)::integer as resolution_minutes,
        'Europe/Zurich'::text as timezone,
        {{ local_time_columns('interval_start_utc', "'Europe/Zurich'") }},
        price_per_kwh,
        currency,
        unit,
        published_at_utc as publication_utc,
        batch_id,
        loaded_at_utc as audit_loaded_at_utc,
        {{ audit_columns() }}
    from tariffs

)

select * from final
