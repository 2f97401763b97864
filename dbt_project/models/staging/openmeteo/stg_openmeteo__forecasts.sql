{{ stg_openmeteo_weather('weather_forecasts', is_forecast=true) }}
