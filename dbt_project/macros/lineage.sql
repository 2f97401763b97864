{#- Day lineage of the incremental day-grained marts, for changed_delivery_days (macros/changed_delivery_days.sql).

    ONE definition per mart generates both sides of the comparison, so they cannot drift apart: the lineage read
    from the sources (`source` aliased `alias`, left-joined to `joins` on the market-day) and the lineage of the
    rows already built ({{ this }}). Every column is named, on both sides, and listed in the same order:
      market_code, delivery_date_local, then `keys` (grouping columns, the same name in the source and the mart),
      then `measures`: name -> (source expression, built expression), e.g.
      'created_at_utc': ('max(forecasts.created_at_utc)', 'max(audit_created_at_utc)').
    `joins` are dicts {alias, relation, on (an extra condition, optional)}; `where` filters the source rows.
    `realised_price_version`: a mart whose rows carry realised prices is rebuilt when the version of its day's
    ENTSO-E prices (visible at as_of_utc) changes: the max of prices.version, as this mart column, comes last.
    Returns {'source_sql': ..., 'built_sql': ...}. -#}
{% macro day_lineage(source, alias, keys=[], measures={}, joins=[], where=none, realised_price_version=none) %}
    {%- set key_columns = ['market_code', 'delivery_date_local'] + keys -%}
    {%- if realised_price_version -%}
        {%- set joins = [{
            'alias': 'prices',
            'relation': ref('int_entsoe_deliveries_visible_as_of'),
            'on': "prices.feed = 'day_ahead_prices'",
        }] + joins -%}
        {%- set measures = dict(measures) -%}
        {%- do measures.update({realised_price_version: ('max(prices.version)', 'max(' ~ realised_price_version ~ ')')}) -%}
    {%- endif -%}
    {%- set source_items, built_items = [], [] -%}
    {%- for column in key_columns -%}
        {%- do source_items.append(alias ~ '.' ~ column ~ ' as ' ~ column) -%}
        {%- do built_items.append(column) -%}
    {%- endfor -%}
    {%- for name, expressions in measures.items() -%}
        {%- do source_items.append(expressions[0] ~ ' as ' ~ name) -%}
        {%- do built_items.append(expressions[1] ~ ' as ' ~ name) -%}
    {%- endfor -%}
    {%- set group_by = range(1, key_columns | length + 1) | join(', ') -%}
    {%- set source_sql -%}
        select {{ source_items | join(', ') }}
        from {{ source }} as {{ alias }}
        {%- for join in joins %}
        left join {{ join.relation }} as {{ join.alias }}
            on {{ alias }}.market_code = {{ join.alias }}.market_code
            and {{ alias }}.delivery_date_local = {{ join.alias }}.delivery_date_local
            {%- if join.on %}
            and {{ join.on }}
            {%- endif %}
        {%- endfor %}
        {%- if where %}
        where {{ where }}
        {%- endif %}
        group by {{ group_by }}
    {%- endset -%}
    {%- set built_sql -%}
        select {{ built_items | join(', ') }}
        from {{ this }}
        group by {{ group_by }}
    {%- endset -%}
    {{ return({'source_sql': source_sql, 'built_sql': built_sql}) }}
{% endmacro %}



{#- Day lineage of a mart of the ENTSO-E `feed` (day_ahead_prices, exogenous_forecasts): the version visible at
    as_of_utc of each market-day (and of each of its series, `keys`). -#}
{% macro visible_version_lineage(feed, keys=[]) %}
    {{ return(day_lineage(
        source=ref('int_entsoe_deliveries_visible_as_of'),
        alias='deliveries',
        keys=keys + ['version'],
        where="deliveries.feed = '" ~ feed ~ "'",
    )) }}
{% endmacro %}

{#- The `where` clause of an incremental build of a day-grained mart: only the days whose `lineage` (day_lineage)
    changed. Renders nothing on a full build. -#}
{% macro where_lineage_changed(lineage) %}
    {%- if is_incremental() -%}
        where {{ changed_delivery_days(lineage.source_sql, lineage.built_sql) }}
    {%- endif -%}
{% endmacro %}
