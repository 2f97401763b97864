{#- Mean power over the hour: the hour's energy in MWh, exact for a power forecast. -#}
{{
    entsoe_hourly(
        ref('int_exogenous_forecasts_native'),
        ['market_code', 'series_code', 'document_type', 'domain_eic'],
        'quantity_mw',
    )
}}
