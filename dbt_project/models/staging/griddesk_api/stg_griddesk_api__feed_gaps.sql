with

source as (

    select * from {{ source('griddesk_api', 'feed_gaps') }}

),

renamed as (

    select

        ----------  ids
        batch_id,
        feed,
        source_key,
        series_key,

        ---------- gap
        reason as gap_reason,
        n_intervals,

        ---------- timestamps
        gap_start_utc,
        gap_end_utc

    from source

)

select * from renamed
