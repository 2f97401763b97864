{{ config(materialized='table') }}

with

feed_batches as (

    select * from {{ ref('stg_griddesk_api__feed_batches') }}
    where feed = 'ckw_tra_signals'

),

latest_batches as (

    select batch_id
    from (
        select
            batch_id,
            row_number() over (
                partition by source_key, window_start_utc, window_end_utc order by version desc
            ) as version_rank
        from feed_batches
    ) as ranked
    where version_rank = 1

),

signals as (

    select stg.*
    from {{ ref('stg_ckw__tra_signals') }} as stg
    inner join latest_batches on stg.batch_id = latest_batches.batch_id

),

final as (

    select
        signal_name,
        signal_description,
        signal_date_local,
        switch_on_utc,
        switch_off_utc,
        'Europe/Zurich'::text as timezone,
        switch_on_utc at time zone 'Europe/Zurich' as switch_on_local,
        switch_off_utc at time zone 'Europe/Zurich' as switch_off_local,
        (extract(epoch from switch_off_utc - switch_on_utc) / 60)::integer as duration_minutes,
        batch_id,
        {{ audit_columns() }}
    from signals

)

select * from final
