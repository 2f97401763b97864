{{ entsoe_native(ref('int_day_ahead_prices_versioned_as_of'), ['market_code', 'currency'], 'price_per_mwh') }}
