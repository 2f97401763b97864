{#- Incremental filter of the day-grained marts: a SQL condition that keeps the rows of the
    (market_code, delivery_date_local) days whose lineage differs between the sources and the table already
    built ({{ this }}), in either direction.

    `source_lineage_sql` and `built_lineage_sql` are queries returning the same columns: market_code,
    delivery_date_local, then whatever changes when a day's content changes (the ENTSO-E version, a
    forecast's model version, row count and creation time, the version of the day's realised prices, ...).
    The marts generate both from one definition with day_lineage (macros/lineage.sql), which names every
    column on both sides, and call this through where_lineage_changed.
    Comparing versions instead of a timestamp watermark picks up new versions of old days, late loads of old
    publications and a moved as_of_utc alike, and needs no clock.

    The days are looked up when the model is compiled and inlined as literal arrays, so PostgreSQL pushes the
    filter down into the intermediate views and an incremental run reads only the changed days. The marts
    use delete+insert with unique_key (market_code, delivery_date_local), so a changed day is replaced whole. -#}
{% macro changed_delivery_days(source_lineage_sql, built_lineage_sql) -%}
    {%- if not execute -%}
        {{ return('true') }}
    {%- endif -%}
    {%- set diff_sql -%}
        with
        source_lineage as ({{ source_lineage_sql }}),
        built_lineage as ({{ built_lineage_sql }}),
        changed as (
            (select * from source_lineage except select * from built_lineage)
            union all
            (select * from built_lineage except select * from source_lineage)
        )
        select distinct market_code, to_char(delivery_date_local, 'YYYY-MM-DD') from changed order by 1, 2
    {%- endset -%}
    {%- set days = run_query(diff_sql) -%}
    {%- do log(this.identifier ~ ": " ~ (days | length) ~ " delivery day(s) to rebuild", info=true) -%}
    {%- if days | length == 0 -%}
        false
    {%- else -%}
        {#- Markets x dates: a superset of the changed days (rebuilding an unchanged day is harmless), but two
            `= any(array)` conditions, which PostgreSQL hashes and pushes down, unlike a long list of pairs. -#}
        {%- set markets = days.columns[0].values() | unique | list -%}
        {%- set dates = days.columns[1].values() | unique | list -%}
        (
            market_code = any(array[
                {%- for market in markets -%}
                    '{{ market | replace("'", "''") }}'{{ ', ' if not loop.last }}
                {%- endfor -%}
            ]::text [])
            and delivery_date_local = any(array[
                {%- for date in dates -%}
                    '{{ date }}'{{ ', ' if not loop.last }}
                {%- endfor -%}
            ]::date [])
        )
    {%- endif -%}
{%- endmacro %}
