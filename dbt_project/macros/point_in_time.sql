{#- Point-in-time helpers built on as_of_utc() (macros/as_of_utc.sql). -#}

{#- SQL literal of the as-of instant: a timestamptz, or null::timestamptz when the build is not point-in-time. -#}
{% macro as_of_utc_sql() %}
    {%- set value = as_of_utc() -%}
    {%- if value is none -%}
        null::timestamptz
    {%- else -%}
        '{{ value }}'::timestamptz
    {%- endif -%}
{% endmacro %}


{#- SQL condition: `column` (a publication instant) is at or before as_of_utc; `true` when the build is not
    point-in-time. -#}
{% macro published_by_as_of(column) %}
    {%- if as_of_utc() is none -%}
        true
    {%- else -%}
        {{ column }} <= {{ as_of_utc_sql() }}
    {%- endif -%}
{% endmacro %}


{#- Pre-hook of the incremental ENTSO-E marts: on a point-in-time build, drop the rows of versions published
    after as_of_utc (a later build may have stored them); changed_delivery_days then re-inserts the day's
    version visible at as_of_utc, if any. Renders nothing on a full build or without as_of_utc. -#}
{% macro delete_rows_published_after_as_of() %}
    {%- if is_incremental() and as_of_utc() is not none -%}
        delete from {{ this }} where published_at_utc > {{ as_of_utc_sql() }}
    {%- endif -%}
{% endmacro %}


{#- Fails the model unless the as_of-dependent views upstream were built with this invocation's as_of_utc.
    The intermediate models are views with the as-of instant written into their SQL, so a build that selects
    only marts (e.g. --select tag:trading) with a new as_of_utc would otherwise read the previous instant.
    `relation` must have an as_of_utc column (int_entsoe_deliveries_visible_as_of does). -#}
{% macro assert_built_with_current_as_of(relation) %}
    {%- if execute -%}
        {%- set check_sql -%}
            select as_of_utc::text from {{ relation }}
            where as_of_utc is distinct from {{ as_of_utc_sql() }}
            limit 1
        {%- endset -%}
        {%- set stale = run_query(check_sql) -%}
        {%- if stale | length > 0 -%}
            {{ exceptions.raise_compiler_error(
                relation ~ " was built with as_of_utc " ~ (stale.columns[0].values()[0] or "unset (latest)")
                ~ ", this build uses " ~ (as_of_utc() or "none (latest)")
                ~ ": select the intermediate models too, e.g. --select +" ~ this.identifier
            ) }}
        {%- endif -%}
    {%- endif -%}
{% endmacro %}
