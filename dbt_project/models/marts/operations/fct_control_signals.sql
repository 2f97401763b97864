{{ config(materialized='table') }}

with

latest_batches as (

    {{ latest_feed_batches('ckw_tra_signals') }}

),

signals as (

    {{ latest_batch_rows(ref('stg_ckw__tra_signals')) }}

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
