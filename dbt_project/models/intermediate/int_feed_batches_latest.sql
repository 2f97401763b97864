{{ config(tags=["feeds"]) }}

{#- The newest stored version of every feed window: the batch the operations marts take their rows from.
    A corrected window (a new version) replaces the old one whole; older versions stay in raw for audit. -#}
with

feed_batches as (

    select * from {{ ref('stg_griddesk_api__feed_batches') }}

),

ranked as (

    select
        *,
        row_number() over (
            partition by feed, source_key, window_start_utc, window_end_utc order by version desc
        ) as version_rank
    from feed_batches

),

final as (

    select
        batch_id,
        feed,
        source_key,
        window_start_utc,
        window_end_utc,
        version,
        n_rows,
        n_gaps,
        published_at_utc,
        loaded_at_utc
    from ranked
    where version_rank = 1

)

select * from final
