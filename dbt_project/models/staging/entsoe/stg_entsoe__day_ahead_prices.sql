{{ stg_entsoe_series('day_ahead_prices', [], ['price_per_mwh', 'currency']) }}
