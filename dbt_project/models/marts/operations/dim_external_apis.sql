{{ config(materialized='table') }}

{#- Every external API GridDesk calls, whether or not its calls are logged yet. The call log names an API by the
    first part of its endpoint label ('ckw.dynamic_prices' -> ckw), so a client that starts logging under its
    api_code appears in fct_api_health_daily without a change here. -#}

with

apis (api_code, api_name, provider, used_for) as (

    values
    (
        'entsoe', 'ENTSO-E Transparency Platform REST API',
        'ENTSO-E (the market simulator locally)',
        'day-ahead prices and exogenous forecasts'
    ),
    (
        'orders', 'Order API of the day-ahead exchange',
        'the exchange (the market simulator locally)',
        'submitting order sets and fetching their executions'
    ),
    (
        'ckw', 'CKW public data API',
        'CKW',
        'dynamic tariffs, plant telemetry and TRA control signals'
    ),
    (
        'oauth', 'CKW OAuth2 token endpoint',
        'CKW',
        'access tokens for the CKW API (client credentials)'
    ),
    (
        'weather', 'Open-Meteo weather API',
        'Open-Meteo',
        'weather observations and forecasts'
    ),
    (
        'meters', 'Meter data API',
        'metering provider',
        'meter readings of the consumption portfolio'
    ),
    (
        'bms', 'Battery management system API',
        'battery operator',
        'battery status and battery executions'
    )
),

logged as (

    select
        split_part(endpoint, '.', 1) as api_code,
        min(requested_at_utc) as first_call_at_utc,
        max(requested_at_utc) as last_call_at_utc
    from {{ ref('stg_griddesk_api__call_log') }}
    group by split_part(endpoint, '.', 1)

),

final as (

    select
        apis.api_code,
        apis.api_name,
        apis.provider,
        apis.used_for,
        logged.api_code is not null as has_logged_calls,
        logged.first_call_at_utc,
        logged.last_call_at_utc
    from apis
    left join logged
        on apis.api_code = logged.api_code

)

select * from final
