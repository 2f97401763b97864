{{ stg_openmeteo_weather('weather_observations') }}
