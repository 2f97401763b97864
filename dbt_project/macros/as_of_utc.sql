{#- The point-in-time instant of this build as a string, or none when unset: var('as_of_utc'), else the
    environment variable GRIDDESK_DBT_AS_OF_UTC. griddesk.transform.dbt passes it the second way, because a
    changed --vars forces dbt to re-parse the whole project while a changed env var re-parses only the files
    that use it. Raises a compiler error unless it is an ISO-8601 instant with an explicit UTC offset: a bare
    local time would be read in the session time zone and make the marts depend on a server setting. -#}
{% macro as_of_utc() %}
    {%- set value = var('as_of_utc', none) -%}
    {%- if value is none or (value | string | trim) == '' -%}
        {%- set value = env_var('GRIDDESK_DBT_AS_OF_UTC', '') -%}
    {%- endif -%}
    {%- if value is none or (value | string | trim) == '' -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set text = value | string | trim -%}
    {%- set pattern = '^\\d{4}-\\d{2}-\\d{2}[T ]\\d{2}:\\d{2}(:\\d{2}(\\.\\d+)?)?(Z|[+-]\\d{2}(:?\\d{2})?)$' -%}
    {%- if not modules.re.match(pattern, text) -%}
        {{ exceptions.raise_compiler_error(
            "var('as_of_utc') must be an ISO-8601 instant with a UTC offset, e.g. 2016-10-24T10:00:00Z; got '"
            ~ text ~ "'"
        ) }}
    {%- endif -%}
    {{ return(text) }}
{% endmacro %}
