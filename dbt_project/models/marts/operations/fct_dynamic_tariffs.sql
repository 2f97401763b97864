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

feed_batches as (

    select * from {{ ref('stg_griddesk_api__feed_batches') }}
    where feed = 'ckw_dynamic_tariffs'

),

-- the newest version of every (tariff name, local day) window
latest_batches as (

    select
        batch_id,
        window_start_utc,
        published_at_utc,
        loaded_at_utc
    from (
        select
            *,
            row_number() over (
                partition by source_key, window_start_utc, window_end_utc order by version desc
            ) as version_rank
        from feed_batches
    ) as ranked
    where
        version_rank = 1
        {% if is_incremental() %}
        -- a window whose newest version is not in the mart yet (new, or newly corrected) is rebuilt whole
        and not exists (
            select 1 from {{ this }} as built
            where built.batch_id = ranked.batch_id
        )
        {% endif %}

),

tariffs as (

    select
        stg.*,
        latest_batches.window_start_utc,
        latest_batches.published_at_utc,
        latest_batches.loaded_at_utc
    from {{ ref('stg_ckw__dynamic_tariffs') }} as stg
    inner join latest_batches on stg.batch_id = latest_batches.batch_id

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
