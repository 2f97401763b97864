{#- The ENTSO-E series chain, ONE definition for the day-ahead prices and the exogenous forecasts:
    <feed>_versioned_as_of -> <feed>_native -> <feed>_hourly -> <feed>_unioned (models/intermediate).
    A series is described by its `dimensions` (the columns that name one series besides the time: market_code,
    currency / series_code, document_type, domain_eic) and its `value` column (price_per_mwh / quantity_mw). -#}


{#- The staged rows of `feed` whose delivery is the version visible at as_of_utc, with its load time. -#}
{% macro entsoe_versioned_as_of(feed, staged) %}
with

visible_deliveries as (

    select * from {{ ref('int_entsoe_deliveries_visible_as_of') }}
    where feed = '{{ feed }}'

),

staged as (

    select * from {{ staged }}

),

visible as (

    select
        staged.*,
        visible_deliveries.loaded_at_utc
    from staged
    inner join visible_deliveries
        on staged.delivery_id = visible_deliveries.delivery_id

)

select * from visible
{% endmacro %}


{#- The visible rows at their native resolution, with the market's time zone and the local-time columns. -#}
{% macro entsoe_native(versioned, dimensions, value) %}
with

series as (

    select * from {{ versioned }}

),

markets as (

    select * from {{ ref('stg_griddesk__market_reference') }}

),

localised as (

    select
        {%- for column in dimensions %}
        series.{{ column }},
        {%- endfor %}
        markets.timezone,
        series.delivery_date_local,
        series.delivery_start_utc,
        series.delivery_start_utc + make_interval(mins => series.resolution_minutes) as delivery_end_utc,
        series.resolution_minutes,
        series.{{ value }},
        series.is_imputed,
        {{ local_time_columns('series.delivery_start_utc', 'markets.timezone') }},
        series.version,
        series.published_at_utc,
        series.loaded_at_utc
    from series
    inner join markets
        on series.market_code = markets.market_code

)

select * from localised
{% endmacro %}


{#- Hourly rows of the native series: the mean of the hour's MTUs (for prices, the convention of the yml; for a
    power forecast, the hour's energy in MWh), native hourly MTUs pass through as a mean of one. -#}
{% macro entsoe_hourly(native, dimensions, value) %}
{%- set group_columns = dimensions + ['timezone', 'delivery_date_local'] -%}
with

native as (

    select * from {{ native }}

),

with_hour as (

    select
        *,
        -- start of the local clock hour; subtracting the local minutes also works for half-hour UTC offsets
        delivery_start_utc
        - make_interval(mins => extract(minute from delivery_start_local)::integer) as hour_start_utc
    from native

),

hourly as (

    select
        {%- for column in group_columns %}
        {{ column }},
        {%- endfor %}
        hour_start_utc,
        min(resolution_minutes) as source_resolution_minutes,
        count(*)::integer as source_mtu_count,
        avg({{ value }} order by delivery_start_utc) as {{ value }},
        bool_or(is_imputed) as is_imputed,
        max(version) as version,
        max(published_at_utc) as published_at_utc,
        max(loaded_at_utc) as loaded_at_utc
    from with_hour
    group by {{ group_columns | join(', ') }}, hour_start_utc

),

final as (

    select
        {%- for column in group_columns %}
        {{ column }},
        {%- endfor %}
        hour_start_utc as delivery_start_utc,
        hour_start_utc + interval '1 hour' as delivery_end_utc,
        60 as resolution_minutes,
        source_resolution_minutes,
        source_mtu_count,
        source_resolution_minutes = 60 as is_native_resolution,
        {{ value }},
        is_imputed,
        {{ local_time_columns('hour_start_utc', 'timezone') }},
        version,
        published_at_utc,
        loaded_at_utc
    from hourly

)

select * from final
{% endmacro %}


{#- The hourly rows, and the sub-hourly native MTUs beside them, as `columns` (in that order): one row per MTU at
    every resolution a consumer may join on. The native rows describe themselves as their own source. -#}
{% macro entsoe_unioned(hourly, native, columns) %}
{%- set native_as = {
    'source_resolution_minutes': 'resolution_minutes',
    'source_mtu_count': '1',
    'is_native_resolution': 'true',
} -%}
with

hourly as (

    select * from {{ hourly }}

),

sub_hourly as (

    select * from {{ native }}
    where resolution_minutes < 60

),

unioned as (

    select {{ columns | join(', ') }}
    from hourly

    union all

    select
        {%- for column in columns %}
        {% if column in native_as %}{{ native_as[column] }} as {% endif %}{{ column }}{{ ',' if not loop.last }}
        {%- endfor %}
    from sub_hourly

)

select * from unioned
{% endmacro %}

