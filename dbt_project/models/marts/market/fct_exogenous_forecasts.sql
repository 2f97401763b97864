{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key=['market_code', 'delivery_date_local'],
        on_schema_change='fail',
        pre_hook="{{ delete_rows_published_after_as_of() }}",
        indexes=[
            {'columns': ['market_code', 'series_code', 'delivery_start_utc', 'resolution_minutes'], 'unique': true},
            {'columns': ['market_code', 'delivery_date_local']},
        ],
    )
}}

{{ assert_built_with_current_as_of(ref('int_entsoe_deliveries_visible_as_of')) }}

{#- Day lineage: the visible version of each series of each market-day, at the source and in the mart. -#}
{% set source_lineage %}
    select market_code, delivery_date_local, series_code, version
    from {{ ref('int_entsoe_deliveries_visible_as_of') }}
    where feed = 'exogenous_forecasts'
{% endset %}
{% set built_lineage %}
    select distinct market_code, delivery_date_local, series_code, version from {{ this }}
{% endset %}

with

unioned as (

    select * from {{ ref('int_exogenous_forecasts_unioned') }}

),

final as (

    select
        market_code,
        series_code,
        document_type,
        domain_eic,
        delivery_date_local,
        delivery_start_utc,
        delivery_end_utc,
        resolution_minutes,
        is_native_resolution,
        source_resolution_minutes,
        source_mtu_count,
        quantity_mw,
        is_imputed,
        timezone,
        delivery_start_local,
        delivery_hour_local,
        utc_offset_minutes,
        delivery_label_local,
        is_dst_repeated_hour,
        version,
        published_at_utc,
        loaded_at_utc as audit_loaded_at_utc,
        {{ audit_columns() }}
    from unioned

)

select * from final
{% if is_incremental() %}
where {{ changed_delivery_days(source_lineage, built_lineage) }}
{% endif %}
