{{ config(materialized='table') }}

{#- The alert emails GridDesk sent (data quality, watches, bidding), newest first in dashboards: what, how
    serious and when. Each alert key is sent once (retries and reruns send nothing new). -#}

with

alerts as (

    select * from {{ ref('stg_griddesk__alerts_sent') }}

),

final as (

    select
        alert_key,
        alert_kind,
        alert_level,
        subject,
        sent_at_utc,
        {{ audit_columns() }}
    from alerts

)

select * from final
