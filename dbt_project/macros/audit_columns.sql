{#- Audit columns of every mart row: when and by which dbt invocation it was built, and the as_of_utc
    it was built with. Prefixed audit_ because they are not functions of the raw data. -#}
{% macro audit_columns() -%}
    {{ as_of_utc_sql() }} as audit_as_of_utc,
    '{{ run_started_at.isoformat() }}'::timestamptz as audit_built_at_utc,
    '{{ invocation_id }}'::text as audit_invocation_id
{%- endmacro %}
