{#- Local-time columns of an MTU that starts at `utc_column`, in the market time zone `timezone_column`:
    delivery_start_local (timestamp without time zone, wall clock), delivery_hour_local (0-23),
    utc_offset_minutes (e.g. 120 for CEST), delivery_label_local ('2016-10-30 02:00 +02:00', unique even in the
    repeated autumn hour) and is_dst_repeated_hour (the wall-clock hour occurs twice that day).
    Everything is computed with explicit time zones, so it does not depend on the session's TimeZone. -#}
{% macro local_time_columns(utc_column, timezone_column) -%}
    {%- set local = '(' ~ utc_column ~ ' at time zone ' ~ timezone_column ~ ')' -%}
    {%- set offset = '(extract(epoch from ' ~ local ~ ' - (' ~ utc_column ~ " at time zone 'UTC')) / 60)::integer" -%}
    {{ local }} as delivery_start_local,
    extract(hour from {{ local }})::integer as delivery_hour_local,
    {{ offset }} as utc_offset_minutes,
    to_char({{ local }}, 'YYYY-MM-DD HH24:MI')
    || case when {{ offset }} < 0 then ' -' else ' +' end
    || lpad((abs({{ offset }}) / 60)::text, 2, '0')
    || ':'
    || lpad((abs({{ offset }}) % 60)::text, 2, '0') as delivery_label_local,
    -- the same wall-clock hour an hour earlier or later means the clocks went back inside it
    (
        date_trunc('hour', ({{ utc_column }} - interval '1 hour') at time zone {{ timezone_column }})
        = date_trunc('hour', {{ local }})
        or date_trunc('hour', ({{ utc_column }} + interval '1 hour') at time zone {{ timezone_column }})
        = date_trunc('hour', {{ local }})
    ) as is_dst_repeated_hour
{%- endmacro %}


{#- The names of the columns local_time_columns() computes, a list (to pass them on unchanged:
    `{{ local_time_column_names() | join(', ') }}`). -#}
{% macro local_time_column_names() -%}
    {{ return(['delivery_start_local', 'delivery_hour_local', 'utc_offset_minutes', 'delivery_label_local',
               'is_dst_repeated_hour']) }}
{%- endmacro %}


{#- Number of MTUs of `resolution_column` minutes in the local delivery day `date_column` of time zone
    `timezone_column`: 23/24/25 hourly or 92/96/100 quarter-hourly around the DST changes. -#}
{% macro mtus_in_local_day(date_column, timezone_column, resolution_column) -%}
    (
        extract(epoch from
            (({{ date_column }} + 1)::timestamp at time zone {{ timezone_column }})
            - ({{ date_column }}::timestamp at time zone {{ timezone_column }})
        ) / 60 / {{ resolution_column }}
    )::integer
{%- endmacro %}
