with

source as (

    select * from {{ source('griddesk_api', 'feed_batches') }}

),

renamed as (

    select

        ----------  ids
        batch_id,
        feed,
        source_key,
        table_name,
        content_sha256,
        source_url,

        ---------- versions and counts
        version,
        n_rows,
        n_duplicates_removed,
        n_conflicting_duplicates,
        n_gaps,
        n_missing_intervals,

        ---------- timestamps
        window_start_utc,
        window_end_utc,
        published_at_utc,
        extracted_at_utc,
        loaded_at_utc

    from source

)

select * from renamed
