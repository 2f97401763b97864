with

source as (

    select * from {{ source('entsoe', 'deliveries') }}

),

renamed as (

    select

        ----------  ids
        delivery_id,
        feed,
        market_code,
        series_code,
        document_mrid,

        ---------- versions
        version,
        revision_number,
        content_sha256,
        n_points as point_count,

        ---------- dates and timestamps
        delivery_date_local,
        document_created_utc,
        published_at_utc,
        extracted_at_utc,
        loaded_at_utc,

        ---------- lineage
        source_url

    from source

)

select * from renamed
