{#- The windows and the verdict of the forecast-drift rule (macros/forecast_drift_rule.sql). -#}
{#- Daily, rolling 7- and 28-day MAEs and the drift verdict, from a daily relation with one row per keys and
    delivery_date_local, carrying currency, model_version (text), scored_mtu_count, absolute_error_sum,
    naive_scored_mtu_count and naive_absolute_error_sum. Windows are calendar days ending on the row's day; sums
    are taken in a fixed order, so a rebuild gives identical bits. -#}
{% macro rolling_forecast_errors(daily, keys) %}
    {%- set rule = forecast_drift_rule() -%}
    {%- set widest = [28, rule.window_days] | max -%}
    {%- set windows = {'rolling_7d': 7, 'rolling_28d': 28, 'drift_window': rule.window_days} -%}
    {%- set day_columns = keys + ['delivery_date_local', 'currency', 'model_version', 'scored_mtu_count'] %}
    select
        {% for column in day_columns -%}
        day.{{ column }},
        {% endfor -%}
        day.absolute_error_sum / nullif(day.scored_mtu_count, 0) as daily_mae_per_mwh,
        day.naive_absolute_error_sum / nullif(day.naive_scored_mtu_count, 0) as weekly_naive_daily_mae_per_mwh,
        {% for name, days in windows.items() -%}
        {%- set in_window = 'w.delivery_date_local > day.delivery_date_local - ' ~ days -%}
        count(*) filter (where {{ in_window }})::integer as {{ name }}_day_count,
        coalesce(sum(w.scored_mtu_count) filter (where {{ in_window }}), 0)::integer as {{ name }}_mtu_count,
        sum(w.absolute_error_sum order by w.delivery_date_local) filter (where {{ in_window }})
        / nullif(sum(w.scored_mtu_count) filter (where {{ in_window }}), 0) as {{ name }}_mae_per_mwh,
        {% if name != 'drift_window' -%}
        sum(w.naive_absolute_error_sum order by w.delivery_date_local) filter (where {{ in_window }})
        / nullif(sum(w.naive_scored_mtu_count) filter (where {{ in_window }}), 0)
            as {{ name }}_weekly_naive_mae_per_mwh,
        {% endif -%}
        {% endfor -%}
        string_agg(distinct w.model_version, ', ' order by w.model_version) filter (
            where w.delivery_date_local > day.delivery_date_local - {{ rule.window_days }}
        ) as drift_window_model_versions,
        {{ rule.window_days }} as drift_window_days,
        {{ rule.max_mae_per_mwh }}::double precision as drift_max_mae_per_mwh,
        coalesce(
            sum(w.absolute_error_sum order by w.delivery_date_local) filter (
                where w.delivery_date_local > day.delivery_date_local - {{ rule.window_days }}
            )
            / nullif(sum(w.scored_mtu_count) filter (
                where w.delivery_date_local > day.delivery_date_local - {{ rule.window_days }}
            ), 0)
            > {{ rule.max_mae_per_mwh }},
            false
        ) as is_drifting
    from {{ daily }} as day
    inner join {{ daily }} as w
        on
            {% for key in keys -%}
            day.{{ key }} = w.{{ key }} and
            {% endfor -%}
            w.delivery_date_local between day.delivery_date_local - {{ widest - 1 }} and day.delivery_date_local
    group by
        {% for column in day_columns -%}
        day.{{ column }},
        {% endfor -%}
        day.absolute_error_sum,
        day.naive_scored_mtu_count,
        day.naive_absolute_error_sum
{% endmacro %}
