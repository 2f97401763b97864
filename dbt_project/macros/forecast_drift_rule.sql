{#- The forecast-drift rule, defined ONCE. fct_forecast_drift (live forecasts: the drift email of
    griddesk_quality_watch and Grafana's alert rule read its is_drifting) and fct_backtest_forecast_drift
    (backtests) both apply it. A market drifts on a day when the MAE over the drift window (that day and the
    window_days - 1 calendar days before it, every scored MTU weighted alike) is above max_mae_per_mwh.
    Defaults: the vars forecast_drift_window_days / forecast_drift_max_mae_per_mwh in dbt_project.yml;
    operators override them with GRIDDESK_QUALITY_DRIFT_WINDOW_DAYS / GRIDDESK_QUALITY_DRIFT_MAE_PER_MWH. -#}
{% macro forecast_drift_rule() %}
    {%- set window_days = env_var(
        'GRIDDESK_QUALITY_DRIFT_WINDOW_DAYS', var('forecast_drift_window_days') | string
    ) | int -%}
    {%- set max_mae = env_var(
        'GRIDDESK_QUALITY_DRIFT_MAE_PER_MWH', var('forecast_drift_max_mae_per_mwh') | string
    ) | float -%}
    {%- if window_days < 1 or max_mae <= 0 -%}
        {{ exceptions.raise_compiler_error(
            'forecast drift rule: window_days must be >= 1 and max_mae_per_mwh > 0, got '
            ~ window_days ~ ' and ' ~ max_mae
        ) }}
    {%- endif -%}
    {{ return({'window_days': window_days, 'max_mae_per_mwh': max_mae}) }}
{% endmacro %}
