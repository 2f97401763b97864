{{
    entsoe_unioned(
        ref('int_exogenous_forecasts_hourly'),
        ref('int_exogenous_forecasts_native'),
        [
            'market_code', 'series_code', 'document_type', 'domain_eic', 'delivery_date_local', 'delivery_start_utc',
            'delivery_end_utc', 'resolution_minutes', 'is_native_resolution', 'source_resolution_minutes',
            'source_mtu_count', 'quantity_mw', 'is_imputed', 'timezone',
        ] + local_time_column_names() + ['version', 'published_at_utc', 'loaded_at_utc'],
    )
}}
