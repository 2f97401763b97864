{#- The hourly price is the arithmetic mean of the MTU prices (the convention, see the yml). -#}
{{ entsoe_hourly(ref('int_day_ahead_prices_native'), ['market_code', 'currency'], 'price_per_mwh') }}
