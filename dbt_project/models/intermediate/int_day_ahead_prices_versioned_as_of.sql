{{ entsoe_versioned_as_of('day_ahead_prices', ref('stg_entsoe__day_ahead_prices')) }}
