{#- The config of the incremental day-grained marts (one row set per market-day, rebuilt whole by delete+insert
    when its lineage changes, see macros/lineage.sql): unique on `unique_columns`, indexed on the market-day.
    `entsoe_versions`: the mart holds ENTSO-E versions, whose rows published after as_of_utc a point-in-time build
    deletes first (delete_rows_published_after_as_of, macros/point_in_time.sql). -#}
{% macro day_grained_incremental_config(unique_columns, entsoe_versions=false) %}
    {%- set indexes = [
        {'columns': unique_columns, 'unique': true},
        {'columns': ['market_code', 'delivery_date_local']},
    ] -%}
    {%- if entsoe_versions -%}
        {{ config(
            materialized='incremental',
            incremental_strategy='delete+insert',
            unique_key=['market_code', 'delivery_date_local'],
            on_schema_change='fail',
            pre_hook="{{ delete_rows_published_after_as_of() }}",
            indexes=indexes,
        ) }}
    {%- else -%}
        {{ config(
            materialized='incremental',
            incremental_strategy='delete+insert',
            unique_key=['market_code', 'delivery_date_local'],
            on_schema_change='fail',
            indexes=indexes,
        ) }}
    {%- endif -%}
{% endmacro %}
