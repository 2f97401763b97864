{{ stg_entsoe_series('exogenous_forecasts', ['series_code', 'document_type', 'domain_eic'], ['quantity_mw']) }}
