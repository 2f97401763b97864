{#- Staging models that stage sibling raw tables the same way. -#}


{#- An ENTSO-E series table (source entsoe.`table`): the delivery ids, the columns naming the series
    (`series_columns`), its values (`value_columns`), then what every series has. -#}
{% macro stg_entsoe_series(table, series_columns, value_columns) %}
with

source as (

    select * from {{ source('entsoe', table) }}

),

renamed as (

    select

        ----------  ids
        delivery_id,
        market_code,
        {%- for column in series_columns %}
        {{ column }},
        {%- endfor %}

        ---------- numerics
        {%- for column in value_columns %}
        {{ column }},
        {%- endfor %}
        resolution_minutes::integer as resolution_minutes,

        ---------- booleans
        is_imputed,

        ---------- dates and timestamps
        delivery_date_local,
        delivery_start_utc,
        published_at_utc,

        ---------- versions
        version

    from source

)

select * from renamed
{% endmacro %}


{#- An Open-Meteo weather table (source openmeteo.`table`): one row per location and valid hour; a forecast
    (`is_forecast`) also has its issue time and the lead time in whole hours. -#}
{% macro stg_openmeteo_weather(table, is_forecast=false) %}
with

source as (

    select * from {{ source('openmeteo', table) }}

),

renamed as (

    select

        ----------  ids
        batch_id,
        location_code,

        ---------- numerics
        temperature_2m_c,
        wind_speed_10m_m_s,
        shortwave_radiation_w_m2,

        ---------- timestamps
        {%- if is_forecast %}
        issued_at_utc,
        valid_time_utc,
        (extract(epoch from valid_time_utc - issued_at_utc) / 3600)::integer as lead_hours
        {%- else %}
        valid_time_utc
        {%- endif %}

    from source

)

select * from renamed
{% endmacro %}
