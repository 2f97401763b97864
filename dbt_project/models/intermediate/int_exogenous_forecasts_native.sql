{{
    entsoe_native(
        ref('int_exogenous_forecasts_versioned_as_of'),
        ['market_code', 'series_code', 'document_type', 'domain_eic'],
        'quantity_mw',
    )
}}
