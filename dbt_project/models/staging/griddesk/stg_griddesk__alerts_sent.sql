with

source as (

    select * from {{ source('griddesk', 'alerts_sent') }}

),

renamed as (

    select

        ----------  ids
        alert_key,
        kind as alert_kind,

        ---------- content (recipients stay in raw: addresses are not for BI)
        subject,
        -- '[GridDesk][CRITICAL] ...' -> CRITICAL
        coalesce(substring(subject from '\]\[([A-Z]+)\]'), 'UNKNOWN') as alert_level,

        ---------- timestamps
        sent_at_utc

    from source

)

select * from renamed
