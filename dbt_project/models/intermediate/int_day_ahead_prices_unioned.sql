{{
    entsoe_unioned(
        ref('int_day_ahead_prices_hourly'),
        ref('int_day_ahead_prices_native'),
        [
            'market_code', 'currency', 'timezone', 'delivery_date_local', 'delivery_start_utc', 'delivery_end_utc',
            'resolution_minutes', 'source_resolution_minutes', 'source_mtu_count', 'is_native_resolution',
            'price_per_mwh', 'is_imputed',
        ] + local_time_column_names() + ['version', 'published_at_utc', 'loaded_at_utc'],
    )
}}
