{{ entsoe_versioned_as_of('exogenous_forecasts', ref('stg_entsoe__exogenous_forecasts')) }}
