{#- Marts that were renamed or removed: dropped at the start of every invocation, so a warehouse built by an
    older GridDesk shows BI users no stale table under an old name. -#}
{% macro drop_retired_relations() %}
    {%- set retired = [
        'marts.fct_forecast_accuracy',
        'marts.fct_forecast_accuracy_monthly',
    ] -%}
    {%- for relation in retired %}
    drop table if exists {{ relation }} cascade;
    {%- endfor %}
{% endmacro %}
