{{ day_grained_incremental_config(
    ['market_code', 'series_code', 'delivery_start_utc', 'resolution_minutes'], entsoe_versions=true
) }}

{{ assert_built_with_current_as_of(ref('int_entsoe_deliveries_visible_as_of')) }}

{#- Day lineage: the visible version of each series of each market-day, at the source and in the mart. -#}
{%- set lineage = visible_version_lineage('exogenous_forecasts', keys=['series_code']) -%}

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
        {{ local_time_column_names() | join(', ') }},
        version,
        published_at_utc,
        loaded_at_utc as audit_loaded_at_utc,
        {{ audit_columns() }}
    from unioned

)

select * from final
{{ where_lineage_changed(lineage) }}
